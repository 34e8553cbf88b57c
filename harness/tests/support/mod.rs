//! Shared helpers for the integration tests: runtimes, stacks from the repo's variants, tokens, bots.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::participant::{setup, Bot, BotConfig, BotError, BotJoin, Setup};
use harness::stack::{Endpoints, Family, Stack, StackTarget, StartOptions, Variant, Variants};
use harness::token::{Token, TokenOverrides};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A multi-thread runtime (testcontainers' drop needs one to clean up in place). Also installs the signal
/// guard: a test killed by nextest's timeout (SIGTERM) removes its containers before it goes.
pub fn runtime() -> tokio::runtime::Runtime {
    harness::runner::cancel::guard_process();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn variants() -> Variants {
    Variants::load(&repo_root().join("scenarios/variants.toml")).expect("scenarios/variants.toml")
}

pub fn variant(name: &str) -> Variant {
    variants().get(name).expect("variant").clone()
}

/// Where a test's container logs and transcripts go.
pub fn artifacts(test: &str) -> PathBuf {
    repo_root().join("target/test-artifacts").join(test)
}

/// Starts a fixture stack; panics with the stack's own error (which says what to do) if it cannot.
pub async fn start(version: &str, variant: &Variant, test: &str) -> Stack {
    let target: StackTarget = format!("fixture:{version}").parse().expect("target");
    let mut options = StartOptions::new(artifacts(test));
    options.startup_timeout = Duration::from_secs(60);
    let t0 = Instant::now();
    match Stack::start(&target, variant, &options).await {
        Ok(stack) => {
            eprintln!(
                "{target} {} started in {:.2} s",
                variant.name,
                t0.elapsed().as_secs_f64()
            );
            stack
        }
        Err(e) => panic!("cannot start {target} for {}: {e}", variant.name),
    }
}

/// How many containers and networks carry the label `label=value` (every state, running or not).
pub async fn labelled(label: &str, value: &str) -> (usize, usize) {
    use testcontainers::bollard::query_parameters::{
        ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    };
    let docker = harness::stack::docker::connect().await.expect("docker");
    let filter = format!("{label}={value}");
    let filters = std::collections::HashMap::from([("label", vec![filter.as_str()])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .expect("list containers");
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .expect("list networks");
    (containers.len(), networks.len())
}

/// A unique room name per test.
pub fn room(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A bot's config from the stack's endpoints (`setup`, as the runner builds it).
pub fn bot_config(endpoints: &Endpoints, guest: bool) -> BotConfig {
    Setup::new(endpoints, "any")
        .bot_config("test", guest)
        .expect("variant has guests")
}

/// A token for `nick` in `room` (`setup`, as the runner mints it).
pub fn token_for(
    endpoints: &Endpoints,
    room: &str,
    nick: &str,
    overrides: &TokenOverrides,
) -> Token {
    Setup::new(endpoints, room)
        .token(nick, overrides)
        .expect("mint")
}

/// `nick` joining `room` as a bot, with its nick as display name.
pub fn join_spec(room: &str, nick: &str, token: Option<Token>) -> BotJoin {
    setup::bot_join(room, nick, Some(nick), token, None)
}

/// A token user joins.
pub async fn join(endpoints: &Endpoints, room: &str, nick: &str) -> Result<Bot, BotError> {
    let token = token_for(endpoints, room, nick, &TokenOverrides::default());
    Bot::join(
        &bot_config(endpoints, false),
        join_spec(room, nick, Some(token)),
    )
    .await
}

/// Moderator nicks (focus excluded) as `bot` sees them.
pub fn moderators(bot: &Bot) -> Vec<String> {
    bot.with_roster(|_, roster| {
        roster
            .participants()
            .filter(|o| o.is_moderator())
            .map(|o| o.nick.to_string())
            .collect()
    })
}

/// Participant nicks (focus excluded) as `bot` sees them.
pub fn participants(bot: &Bot) -> Vec<String> {
    bot.with_roster(|_, roster| roster.participants().map(|o| o.nick.to_string()).collect())
}

/// Waits until `check` holds for every bot, or panics naming what each bot saw.
pub async fn wait_until(
    bots: &[&Bot],
    deadline: Duration,
    what: &str,
    check: impl Fn(&Bot) -> bool,
) {
    let end = Instant::now() + deadline;
    let mut changes: Vec<_> = bots.iter().map(|b| b.changes()).collect();
    loop {
        for c in &mut changes {
            c.borrow_and_update();
        }
        if bots.iter().all(|b| check(b)) {
            return;
        }
        let remaining = end.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let seen: Vec<String> = bots
                .iter()
                .map(|b| {
                    format!(
                        "{} sees moderators {:?} among {:?}",
                        b.nick(),
                        moderators(b),
                        participants(b)
                    )
                })
                .collect();
            panic!("not within {deadline:?}: {what}\n{}", seen.join("\n"));
        }
        let any_change =
            futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed())));
        let _ = tokio::time::timeout(remaining.min(Duration::from_millis(200)), any_change).await;
    }
}

// --- browsers (tests/browser.rs) -------------------------------------------------------------------------

/// A browser participant's config for a running fixture stack's page.
pub fn browser_config(
    endpoints: &Endpoints,
    driver: &harness::participant::Driver,
    test: &str,
) -> harness::participant::BrowserConfig {
    Setup::new(endpoints, "any")
        .browser_config(
            "test",
            false,
            driver.clone(),
            Family::Fixture,
            Some(artifacts(test)),
        )
        .expect("the fixture stack serves its page (Endpoints::web)")
}

/// `nick` joining `room` in a browser, with its nick as display name.
pub fn browser_join(
    room: &str,
    nick: &str,
    token: Option<Token>,
) -> harness::participant::BrowserJoin {
    setup::browser_join(room, nick, nick, token)
}

/// A token user joins in a browser on the fixture page.
pub async fn join_browser(
    endpoints: &Endpoints,
    driver: &harness::participant::Driver,
    room: &str,
    nick: &str,
    test: &str,
) -> Result<harness::participant::Browser, harness::participant::BrowserError> {
    let token = token_for(endpoints, room, nick, &TokenOverrides::default());
    harness::participant::Browser::join(
        &browser_config(endpoints, driver, test),
        browser_join(room, nick, Some(token)),
    )
    .await
}

/// CPU time (user + system) this process has used so far (`getrusage(RUSAGE_SELF)`).
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we own; a zeroed rusage is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec.max(0) as u64)
            + Duration::from_micros(tv.tv_usec.max(0) as u64)
    };
    t(u.ru_utime) + t(u.ru_stime)
}
