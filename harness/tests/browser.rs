//! The browser participant on the fixture stack, both Prosody versions: a headless Chromium and two bots
//! in one room agree on who is moderator after each step; refusals name their cause; an unreachable page
//! fails within its deadline and leaves a screenshot; no chromium or chromedriver process survives.
//!
//! Needs Docker, the fixture images (`just images`) and Debian's `chromium` + `chromium-driver` (or
//! `JITSI_HARNESS_WEBDRIVER`). Without the browser the trials are skipped at listing time, with the
//! reason (`tests/skip/mod.rs`) — unless `CI` is set, where they fail (a silently skipped browser test
//! cannot catch anything).

mod skip;
mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use harness::participant::{
    Bot, Browser, BrowserConfig, BrowserError, BrowserTimeouts, Driver, DriverOptions, Observation,
    PageKind, Phase,
};
use harness::process::{all_processes, descendant_processes, process_info, ProcessInfo};
use harness::token::{Token, TokenOverrides};
use libtest_mimic::{Arguments, Failed};
use support::*;

const DEADLINE: Duration = Duration::from_secs(10);

/// Every chromedriver/Chromium process any trial saw, checked once all trials are done.
static SEEN: Mutex<Vec<ProcessInfo>> = Mutex::new(Vec::new());

fn is_browser_process(p: &ProcessInfo) -> bool {
    p.comm.starts_with("chrom")
}

/// Records the driver's processes (for the final check) and returns them.
fn record(driver: &Driver) -> Vec<ProcessInfo> {
    let procs = driver.processes();
    if let Ok(mut seen) = SEEN.lock() {
        seen.extend(procs.iter().cloned());
    }
    procs
}

/// Browser processes still alive: every one any trial saw, every one under this process, and every one
/// (Chromium's daemonized crash handler included) started after this process did. Waits up to 5 s for
/// them to finish exiting.
fn survivors() -> Vec<ProcessInfo> {
    let me = process_info(std::process::id())
        .map(|p| p.start_ticks)
        .unwrap_or(u64::MAX);
    let seen: Vec<ProcessInfo> = SEEN.lock().map(|s| s.clone()).unwrap_or_default();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut found: Vec<ProcessInfo> = all_processes()
            .into_iter()
            .filter(|p| is_browser_process(p) && p.start_ticks >= me)
            .chain(
                descendant_processes(std::process::id())
                    .into_iter()
                    .filter(is_browser_process),
            )
            .chain(seen.iter().filter(|p| p.is_alive()).cloned())
            .collect();
        found.sort_by_key(|p| p.pid);
        found.dedup_by_key(|p| p.pid);
        if found.is_empty() || Instant::now() >= end {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The driver's process count once it drops to at most `limit` (Chromium takes a moment to exit).
async fn settle(driver: &Driver, limit: usize) -> Vec<ProcessInfo> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = driver.processes();
        if procs.len() <= limit || Instant::now() >= end {
            return procs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn bot_view(bot: &Bot) -> Observation {
    bot.with_roster(|phase, roster| Observation::from_roster(*phase == Phase::Joined, roster))
}

fn moderators(o: &Observation) -> BTreeSet<String> {
    o.occupants
        .values()
        .filter(|s| s.is_moderator())
        .map(|s| s.nick.clone())
        .collect()
}

fn nicks(o: &Observation) -> BTreeSet<String> {
    o.occupants.keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Every observer's view, named.
async fn views(
    browser: Option<&Browser>,
    bots: &[&Bot],
) -> anyhow::Result<Vec<(String, Observation)>> {
    let mut out = Vec::new();
    if let Some(b) = browser {
        out.push((format!("{} (browser)", b.nick()), b.observe().await?));
    }
    for bot in bots {
        out.push((format!("{} (bot)", bot.nick()), bot_view(bot)));
    }
    Ok(out)
}

fn show(views: &[(String, Observation)]) -> String {
    views
        .iter()
        .map(|(who, o)| {
            format!(
                "  {who} sees moderators {:?} among {:?} (present {})",
                moderators(o),
                nicks(o),
                o.present
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until every observer is present and `check` holds for what each sees; fails naming every view.
async fn wait_all(
    browser: Option<&Browser>,
    bots: &[&Bot],
    what: &str,
    check: impl Fn(&Observation) -> bool,
) -> anyhow::Result<Vec<(String, Observation)>> {
    let end = Instant::now() + DEADLINE;
    loop {
        let v = views(browser, bots).await?;
        if v.iter().all(|(_, o)| o.present && check(o)) {
            return Ok(v);
        }
        if Instant::now() >= end {
            bail!("not within {DEADLINE:?}: {what}\n{}", show(&v));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// alice (browser) joins → alice moderator; bob, carol (bots) join → only alice (auto-owner) or everyone
/// (jicofo authentication); alice leaves → auto-owner: exactly one of bob/carol, and both agree;
/// authentication: bob and carol stay moderators.
fn browser_and_bots_agree(version: &str, variant_name: &str) -> anyhow::Result<()> {
    let auto_owner = variant_name == "jwt-auto-owner";
    let test = format!("browser-agree-{variant_name}-{version}");
    runtime().block_on(async {
        let stack = start(version, &variant(variant_name), &test).await;
        let ep = stack.endpoints().clone();
        let driver = Driver::from_env().await?;
        let room = room("browser");

        let alice = join_browser(&ep, &driver, &room, "alice", &test)
            .await
            .context("alice joins in a browser")?;
        eprintln!(
            "{test}: session {:.2} s, join {:.2} s",
            alice.session_started_in().as_secs_f64(),
            alice.joined_in().as_secs_f64()
        );
        wait_all(Some(&alice), &[], "alice alone and moderator", |o| {
            nicks(o) == set(&["alice"]) && moderators(o) == set(&["alice"])
        })
        .await?;

        let bob = join(&ep, &room, "bob").await.context("bob joins")?;
        let carol = join(&ep, &room, "carol").await.context("carol joins")?;
        let expected = if auto_owner {
            set(&["alice"])
        } else {
            set(&["alice", "bob", "carol"])
        };
        let v = wait_all(
            Some(&alice),
            &[&bob, &carol],
            "all three see the same moderators",
            |o| nicks(o) == set(&["alice", "bob", "carol"]) && moderators(o) == expected,
        )
        .await?;
        // The browser sees affiliations too: owners are exactly the moderators here.
        let (_, seen_by_alice) = &v[0];
        for s in seen_by_alice.occupants.values() {
            let owner = s.affiliation == Some(harness::xmpp::Affiliation::Owner);
            if owner != s.is_moderator() {
                bail!(
                    "alice sees {} as role {} with affiliation {:?}",
                    s.nick,
                    s.role,
                    s.affiliation
                );
            }
        }
        assert_eq!(seen_by_alice.own.as_deref(), Some("alice"));
        assert_eq!(
            seen_by_alice.occupants["alice"].name.as_deref(),
            Some("alice")
        );

        alice.leave().await.context("alice leaves")?;
        let v = wait_all(
            None,
            &[&bob, &carol],
            "bob and carol agree on the moderators after alice left",
            |o| {
                nicks(o) == set(&["bob", "carol"])
                    && if auto_owner {
                        moderators(o).len() == 1
                    } else {
                        moderators(o) == set(&["bob", "carol"])
                    }
            },
        )
        .await?;
        if moderators(&v[0].1) != moderators(&v[1].1) {
            bail!("bob and carol disagree:\n{}", show(&v));
        }
        eprintln!("{test}: after alice left: {:?}", moderators(&v[0].1));

        bob.leave().await?;
        carol.leave().await?;
        record(&driver);
        driver.close().await?;
        stack.close().await?;
        Ok(())
    })
}

/// Refusals surface as `JoinRefused` naming the stage and the server's words, like the bot's.
fn refusals_name_their_cause(version: &str) -> anyhow::Result<()> {
    let test = format!("browser-refusals-{version}");
    runtime().block_on(async {
        let stack = start(version, &variant("jwt-auto-owner"), &test).await;
        let ep = stack.endpoints().clone();
        let driver = Driver::from_env().await?;
        let room = room("refusals");
        let config = browser_config(&ep, &driver, &test);

        let expired = token_for(
            &ep,
            &room,
            "mallory",
            &TokenOverrides {
                expired: true,
                ..Default::default()
            },
        );
        match Browser::join(&config, browser_join(&room, "mallory", Some(expired))).await {
            Err(e @ BrowserError::JoinRefused { .. }) => {
                assert!(e.is_refusal());
                let text = e.to_string();
                assert!(
                    text.contains("at the login") && text.contains("token has expired"),
                    "{text}"
                );
            }
            other => bail!("an expired token should be refused at the login, got {other:?}"),
        }
        let elsewhere = token_for(
            &ep,
            &room,
            "mallory",
            &TokenOverrides {
                room: Some("elsewhere".into()),
                ..Default::default()
            },
        );
        match Browser::join(&config, browser_join(&room, "mallory", Some(elsewhere))).await {
            Err(BrowserError::JoinRefused {
                stage,
                condition,
                text,
                ..
            }) => {
                assert_eq!(
                    (stage.as_str(), condition.as_str()),
                    ("room", "not-allowed")
                );
                assert_eq!(text.as_deref(), Some("Room and token mismatched"));
            }
            other => bail!("a token for another room should be refused by the room, got {other:?}"),
        }
        match Browser::join(&config, browser_join(&room, "mallory", None)).await {
            Err(e) if e.is_refusal() => assert!(e.to_string().contains("token required"), "{e}"),
            other => bail!("no token should be refused, got {other:?}"),
        }
        // A refused browser leaves its artefacts, tokens redacted.
        let shot = artifacts(&test).join("mallory-join-failed.png");
        assert!(shot.is_file(), "{} missing", shot.display());
        record(&driver);
        driver.close().await?;
        stack.close().await?;
        Ok(())
    })
}

/// A moderator browser grants owner to a bot, then kicks it; the page's own view follows. The focus
/// answers ready='false' twice first, so the page's retry is exercised too.
fn grants_and_kicks(version: &str) -> anyhow::Result<()> {
    let test = format!("browser-admin-{version}");
    runtime().block_on(async {
        let mut slow_focus = variant("jwt-auto-owner");
        slow_focus.faults.not_ready_times = 2;
        let stack = start(version, &slow_focus, &test).await;
        let ep = stack.endpoints().clone();
        let driver = Driver::from_env().await?;
        let room = room("admin");
        let alice = join_browser(&ep, &driver, &room, "alice", &test).await?;
        let bob = join(&ep, &room, "bob").await?;
        wait_all(Some(&alice), &[&bob], "only alice is moderator", |o| {
            nicks(o) == set(&["alice", "bob"]) && moderators(o) == set(&["alice"])
        })
        .await?;
        alice
            .grant_owner("bob")
            .await
            .context("alice grants owner to bob")?;
        wait_all(Some(&alice), &[&bob], "bob is moderator too", |o| {
            moderators(o) == set(&["alice", "bob"])
        })
        .await?;
        // A live page's artefacts: screenshot, console (the page logs its steps and the XMPP traffic).
        let capture = alice
            .capture(&artifacts(&test), "alice-after-grant")
            .await?;
        assert!(capture.errors.is_empty(), "{:?}", capture.errors);
        let console = std::fs::read_to_string(capture.console.context("console saved")?)?;
        assert!(console.contains("[harness] joined"), "{console}");
        assert!(
            console.contains("focus answered ready=false, retrying"),
            "{console}"
        );
        assert!(capture.screenshot.is_some() && capture.source.is_some());
        // Observing is cheap: one WebDriver round trip.
        let t0 = Instant::now();
        for _ in 0..20 {
            alice.observe().await?;
        }
        eprintln!(
            "{test}: one observe() = {:.1} ms",
            t0.elapsed().as_secs_f64() * 1000.0 / 20.0
        );
        let e = alice
            .kick("nobody")
            .await
            .expect_err("kicking a stranger fails");
        assert!(matches!(e, BrowserError::RequestFailed { .. }), "{e}");
        alice.kick("bob").await.context("alice kicks bob")?;
        let end = Instant::now() + DEADLINE;
        while bob.view().phase != Phase::Kicked {
            if Instant::now() >= end {
                bail!("bob was not kicked: {:?}", bob.view().phase);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_all(Some(&alice), &[], "alice sees herself alone", |o| {
            nicks(o) == set(&["alice"])
        })
        .await?;
        alice.close().await?;
        record(&driver);
        driver.close().await?;
        stack.close().await?;
        Ok(())
    })
}

/// A page on a closed port fails within the join deadline, with a screenshot (and console log and page
/// source, tokens redacted) in the artifacts folder.
fn unreachable_page_fails_with_screenshot() -> anyhow::Result<()> {
    let test = "browser-unreachable";
    let dir = artifacts(test);
    let _ = std::fs::remove_dir_all(&dir);
    runtime().block_on(async {
        let driver = Driver::from_env().await?;
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let token = Token::new(
            "eyJhbGciOiJIUzI1NiJ9.eyJ1bnJlYWNoYWJsZSI6dHJ1ZX0.bm90LWEtcmVhbC1zaWduYXR1cmU",
        );
        let timeouts = BrowserTimeouts {
            join: Duration::from_secs(8),
            ..BrowserTimeouts::for_page(PageKind::Fixture)
        };
        let config = BrowserConfig {
            driver: driver.clone(),
            page: PageKind::Fixture,
            web: format!("http://127.0.0.1:{port}/harness/"),
            websocket: format!("ws://127.0.0.1:{port}/xmpp-websocket"),
            domain: "meet.jitsi".into(),
            muc_domain: "muc.meet.jitsi".into(),
            focus_domain: "focus.meet.jitsi".into(),
            skip_focus: false,
            insecure_tls: false,
            timeouts,
            artifacts: Some(dir.clone()),
        };
        let t0 = Instant::now();
        let result = Browser::join(
            &config,
            browser_join("nowhere", "alice", Some(token.clone())),
        )
        .await;
        let took = t0.elapsed();
        let e = match result {
            Ok(_) => bail!("a page on a closed port loaded"),
            Err(e) => e,
        };
        eprintln!("{test}: failed in {:.2} s: {e}", took.as_secs_f64());
        assert!(matches!(e, BrowserError::PageUnreachable { .. }), "{e}");
        assert!(!e.to_string().contains(token.expose()), "{e}");
        assert!(took < timeouts.session + timeouts.join, "took {took:?}");
        let shot = dir.join("alice-join-failed.png");
        let png = std::fs::read(&shot).with_context(|| format!("{} missing", shot.display()))?;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        for f in ["alice-join-failed.console.log", "alice-join-failed.html"] {
            let text =
                std::fs::read_to_string(dir.join(f)).with_context(|| format!("{f} missing"))?;
            assert!(!text.contains(token.expose()), "{f} holds the token");
        }
        record(&driver);
        driver.close().await?;
        Ok(())
    })
}

/// Sessions closed by `close`, by `Drop`, and by a panicking task all take their Chromium with them;
/// closing the driver leaves no process behind. Also measures Chromium's memory.
fn no_browser_process_survives(version: &str) -> anyhow::Result<()> {
    let test = format!("browser-processes-{version}");
    runtime().block_on(async {
        let stack = start(version, &variant("jwt-auto-owner"), &test).await;
        let ep = stack.endpoints().clone();
        let driver = Driver::from_env().await?;
        eprintln!(
            "{test}: chromedriver ready in {:.2} s",
            driver.started_in().as_secs_f64()
        );
        let room = room("procs");
        let baseline: Vec<ProcessInfo> = record(&driver);
        let alice = join_browser(&ep, &driver, &room, "alice", &test).await?;
        let one = record(&driver);
        let chromium: Vec<&ProcessInfo> = one.iter().filter(|p| p.comm != "chromedriver").collect();
        let rss: u64 = chromium.iter().map(|p| p.rss_kib).sum();
        let pss: u64 = chromium.iter().map(|p| p.pss_kib).sum();
        eprintln!(
            "{test}: one browser = {} chromium processes, PSS {:.0} MiB (RSS summed {:.0} MiB)",
            chromium.len(),
            pss as f64 / 1024.0,
            rss as f64 / 1024.0
        );
        let bob = join_browser(&ep, &driver, &room, "bob", &test).await?;
        let two = record(&driver);
        if two.len() <= one.len() {
            bail!("a second browser added no process: {one:?} then {two:?}");
        }

        // Drop without close: the session goes with it.
        drop(bob);
        let after_drop = settle(&driver, one.len()).await;
        if after_drop.len() > one.len() {
            bail!("bob's Chromium survived its drop: {after_drop:?}");
        }
        // A panic while holding a browser: carol must really be in, with her own Chromium, when the
        // task panics; otherwise the check below would pass with nothing to clean up.
        let (ep2, driver2, room2, test2) = (ep.clone(), driver.clone(), room.clone(), test.clone());
        let before = one.len();
        let task = tokio::spawn(async move {
            panic_holding_carol(&ep2, &driver2, &room2, &test2, before).await
        });
        match task.await {
            Err(e) if e.is_panic() => {}
            Err(e) => bail!("carol's task ended without its panic: {e}"),
            Ok(why) => return Err(why.context("no panic while holding carol's browser")),
        }
        let after_panic = settle(&driver, one.len()).await;
        if after_panic.len() > one.len() {
            bail!("carol's Chromium survived the panic: {after_panic:?}");
        }
        // Disconnect (closes the session).
        alice.disconnect().await?;
        let alone = settle(&driver, baseline.len()).await;
        if alone.len() != baseline.len() {
            bail!("processes left after every session closed: {alone:?}");
        }
        driver.close().await?;
        let everything: Vec<ProcessInfo> = baseline.into_iter().chain(one).chain(two).collect();
        let survivors: Vec<&ProcessInfo> = everything.iter().filter(|p| p.is_alive()).collect();
        if !survivors.is_empty() {
            bail!("survived the driver's close: {survivors:?}");
        }
        stack.close().await?;
        Ok(())
    })
}

/// Joins carol in a browser and panics while holding it, once her Chromium runs (the driver has more
/// than `before` processes). Returns only when that could not happen, saying why.
async fn panic_holding_carol(
    ep: &harness::stack::Endpoints,
    driver: &Driver,
    room: &str,
    test: &str,
    before: usize,
) -> anyhow::Error {
    let _carol = match join_browser(ep, driver, room, "carol", test).await {
        Ok(browser) => browser,
        Err(e) => return anyhow::Error::new(e).context("carol joins in a browser"),
    };
    let held = record(driver);
    if held.len() <= before {
        return anyhow::anyhow!("carol's browser added no process: {held:?}");
    }
    panic!("on purpose, holding carol's browser");
}

/// A trial's body.
type Body = Box<dyn FnOnce() -> anyhow::Result<()> + Send>;

fn trials() -> Vec<(String, Body)> {
    let mut out: Vec<(String, Body)> = Vec::new();
    for (tag, version) in [("prosody012", "0.12"), ("prosody13", "13")] {
        for variant in ["jwt-auto-owner", "jwt-jicofo-auth"] {
            out.push((
                format!("{tag}::browser_and_bots_agree_on_moderators@{variant}"),
                Box::new(move || browser_and_bots_agree(version, variant)),
            ));
        }
        out.push((
            format!("{tag}::browser_refusals_name_their_cause"),
            Box::new(move || refusals_name_their_cause(version)),
        ));
    }
    out.push((
        "prosody13::browser_grants_owner_and_kicks".into(),
        Box::new(|| grants_and_kicks("13")),
    ));
    out.push((
        "prosody13::no_browser_process_survives".into(),
        Box::new(|| no_browser_process_survives("13")),
    ));
    out.push((
        "unreachable_page_fails_within_deadline_with_screenshot".into(),
        Box::new(unreachable_page_fails_with_screenshot),
    ));
    out
}

fn main() {
    let args = Arguments::from_args();
    // The survivors trial panics on purpose while holding a browser; keep that one out of the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or_default();
        if !message.starts_with("on purpose") {
            default_hook(info);
        }
    }));
    let missing = DriverOptions::from_env()
        .check_installed()
        .err()
        .map(|e| e.to_string());
    let list: Vec<_> = trials()
        .into_iter()
        .map(|(name, body)| {
            skip::trial(&args, name, missing.as_deref(), skip::in_ci(), move || {
                body().map_err(|e| Failed::from(format!("{e:#}")))
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, list);

    // Nothing may outlive the trials.
    let left = survivors();
    if !left.is_empty() {
        eprintln!("error: browser processes survived the tests: {left:?}");
        std::process::exit(101);
    }
    conclusion.exit();
}
