//! The bot participant against the fixture stack (both Prosody versions) and against bad input: every
//! failure is a distinct, clear error within its deadline.

mod support;

use std::time::{Duration, Instant};

use harness::participant::{Bot, BotError, BotTimeouts, Phase};
use harness::stack::{Stack, Variants};
use harness::xmpp::websocket::XmppError;
use support::*;

const DEADLINE: Duration = Duration::from_secs(10);

async fn rosters_agree(version: &str, n: usize) {
    let stack = start(
        version,
        &variant("jwt-auto-owner"),
        &format!("bots{n}-{version}"),
    )
    .await;
    let ep = stack.endpoints().clone();
    let room = room("agree");
    let nicks: Vec<String> = (0..n).map(|i| format!("bot{i}")).collect();
    let first = join(&ep, &room, &nicks[0]).await.expect("first bot");
    let mut bots = vec![first];
    let rest =
        futures::future::join_all(nicks[1..].iter().map(|nick| join(&ep, &room, nick))).await;
    for b in rest {
        bots.push(b.expect("bot joins"));
    }
    let all: Vec<&Bot> = bots.iter().collect();
    wait_until(
        &all,
        DEADLINE,
        "every roster complete with one moderator, bot0",
        |b| participants(b).len() == n && moderators(b) == ["bot0"],
    )
    .await;
    // Every bot sees the same affiliation and role for every occupant.
    let views: Vec<_> = bots
        .iter()
        .map(|b| {
            b.with_roster(|_, r| {
                r.participants()
                    .map(|o| (o.nick.clone(), o.affiliation, o.role))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    assert!(views.windows(2).all(|w| w[0] == w[1]), "{views:#?}");
    // Each bot knows itself (status 110).
    for b in &bots {
        assert_eq!(b.view().roster.own_nick.as_deref(), Some(b.nick()));
    }
    // The owner leaves: every remaining bot sees exactly one new owner, the same one.
    let owner = bots.remove(0);
    owner.leave().await.expect("owner leaves");
    let rest: Vec<&Bot> = bots.iter().collect();
    wait_until(&rest, DEADLINE, "exactly one new moderator", |b| {
        participants(b).len() == n - 1 && moderators(b).len() == 1
    })
    .await;
    let successor = moderators(rest[0]);
    assert!(rest.iter().all(|b| moderators(b) == successor));
    for b in bots {
        b.leave().await.expect("leave");
    }
    stack.close().await.expect("close");
}

async fn server_lost(version: &str, pause: bool) {
    let stack = start(
        version,
        &variant("jwt-auto-owner"),
        &format!("lost-{pause}-{version}"),
    )
    .await;
    let ep = stack.endpoints().clone();
    let room = room("lost");
    let bot = join(&ep, &room, "alice").await.expect("alice");
    let Stack::Fixture(fixture) = &stack else {
        panic!("not a fixture stack")
    };
    fixture.break_prosody(pause).await.expect("break prosody");
    let t0 = Instant::now();
    // Stopped: the socket closes at once. Paused: keepalive pings go unanswered (2 × 5 s + 1 s).
    let deadline = if pause {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(5)
    };
    let mut changes = bot.changes();
    loop {
        if let Phase::Failed(reason) = bot.view().phase {
            eprintln!("{version}: bot reported after {:?}: {reason}", t0.elapsed());
            if pause {
                assert!(reason.contains("keepalive"), "{reason}");
            }
            break;
        }
        assert!(
            t0.elapsed() < deadline,
            "the bot did not notice within {deadline:?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
    }
    // Later commands fail fast instead of hanging.
    let e = bot.kick("nobody").await.unwrap_err();
    assert!(matches!(e, BotError::Gone { .. }), "{e}");
    drop(bot);
    stack.close().await.expect("close");
}

#[test]
fn focus_never_ready_is_an_error_within_the_deadline() {
    runtime().block_on(async {
        let variants = Variants::parse(
            std::path::Path::new("inline.toml"),
            "[never-ready]\ndescription = \"\"\njwt = true\njicofo_auth = false\nfaults = { not_ready_times = 100000 }\n",
        )
        .unwrap();
        let stack = start("13", variants.get("never-ready").unwrap(), "never-ready").await;
        let ep = stack.endpoints().clone();
        let room = room("never");
        let mut config = bot_config(&ep, false);
        config.timeouts = BotTimeouts {
            focus: Duration::from_secs(2),
            ..Default::default()
        };
        let token = token_for(&ep, &room, "alice", &Default::default());
        let t0 = Instant::now();
        let e = Bot::join(&config, join_spec(&room, "alice", Some(token))).await.unwrap_err();
        assert!(matches!(e, BotError::FocusNotReady { attempts, .. } if attempts > 1), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
        assert!(e.to_string().contains("never answered ready='true'"), "{e}");
        stack.close().await.expect("close");
    });
}

fn offline_config(url: &str) -> harness::participant::BotConfig {
    harness::participant::BotConfig {
        websocket: url.into(),
        domain: "meet.jitsi".into(),
        muc_domain: "muc.meet.jitsi".into(),
        focus_domain: "focus.meet.jitsi".into(),
        insecure_tls: false,
        timeouts: BotTimeouts::default(),
        skip_focus: false,
        focus_token: true,
    }
}

#[test]
fn bad_input_gives_distinct_errors_within_deadlines() {
    runtime().block_on(async {
        // Nick and room are checked before any connection.
        let cfg = offline_config("ws://127.0.0.1:9/xmpp-websocket");
        let e = Bot::join(&cfg, join_spec("r1", "-bad", None))
            .await
            .unwrap_err();
        assert!(matches!(e, BotError::InvalidNick { .. }), "{e}");
        assert!(e.to_string().contains("^[a-zA-Z0-9][a-zA-Z0-9_]*$"));
        let e = Bot::join(&cfg, join_spec("Room With Spaces", "alice", None))
            .await
            .unwrap_err();
        assert!(matches!(e, BotError::InvalidRoom { .. }), "{e}");

        // Nothing listens: refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let t0 = Instant::now();
        let e = Bot::join(
            &offline_config(&format!("ws://127.0.0.1:{port}/xmpp-websocket")),
            join_spec("r1", "alice", None),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, BotError::Xmpp(XmppError::Connect { .. })),
            "{e}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));

        // Something listens but never answers: a timeout at the connect deadline.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let mut cfg = offline_config(&format!("ws://127.0.0.1:{port}/xmpp-websocket"));
        cfg.timeouts.connect.connect = Duration::from_millis(500);
        let t0 = Instant::now();
        let e = Bot::join(&cfg, join_spec("r1", "alice", None))
            .await
            .unwrap_err();
        assert!(
            matches!(e, BotError::Xmpp(XmppError::Timeout { .. })),
            "{e}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        hold.abort();

        // A plain HTTP server spoken to with wss: the TLS handshake fails, named as such.
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = plain.local_addr().unwrap().port();
        let serve = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = plain.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let t0 = Instant::now();
        let e = Bot::join(
            &offline_config(&format!("wss://127.0.0.1:{port}/xmpp-websocket")),
            join_spec("r1", "alice", None),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, BotError::Xmpp(XmppError::Tls { .. })), "{e}");
        assert!(e.to_string().contains("TLS"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(6));
        serve.abort();
        // No token ever appears in an error.
        let url = "ws://127.0.0.1:9/xmpp-websocket";
        let mut spec = join_spec(
            "r1",
            "alice",
            Some(harness::token::Token::new(
                "eyJhbGciOiJIUzI1NiJ9.SECRETPAYLOAD.sig",
            )),
        );
        spec.display_name = None;
        let e = Bot::join(&offline_config(url), spec).await.unwrap_err();
        assert!(!e.to_string().contains("SECRETPAYLOAD"), "{e}");
    });
}

/// Issue 14: a step whose expectation cannot be met waits out its deadline without spinning. The runner's
/// settle loop used to wake on a change notification that was never marked seen, so it polled flat out
/// for the whole deadline (one scenario: 14.4 s of CPU instead of 0.09 s).
#[test]
fn an_unmet_expectation_waits_without_spinning() {
    use harness::runner::{run_scenario, RunOptions};
    const DEADLINE_S: u64 = 3;
    let variants = variants();
    let text = format!(
        "description = \"bob can never be moderator while alice is\"\nvariants = [\"jwt-auto-owner\"]\n\
         timeout = \"{DEADLINE_S}s\"\n\n[participants]\nalice = {{}}\nbob = {{}}\n\n\
         [[step]]\njoin = [\"alice\", \"bob\"]\nmoderators = [\"alice\", \"bob\"]\n"
    );
    let path = repo_root().join("scenarios/unmet_expectation.toml");
    let scenario = harness::scenario::parse(&path, &text, &variants).expect("scenario");
    let variant = variants.get("jwt-auto-owner").expect("variant").clone();
    runtime().block_on(async {
        let stack = start("13", &variant, "unmet-expectation").await;
        let mut options = RunOptions::new(artifacts("unmet-expectation").join("run"));
        options.transcripts = false;
        let (cpu0, t0) = (process_cpu(), Instant::now());
        let outcome = run_scenario(&scenario, &variant, &stack, &options).await;
        let (cpu, wall) = (process_cpu() - cpu0, t0.elapsed());
        stack.close().await.expect("close");
        let timeline = outcome.expect("the run completes");
        let step = &timeline.steps[0];
        assert!(!step.converged && !step.unmet.is_empty(), "{step:?}");
        eprintln!(
            "unmet step: {:.3} s of CPU in {:.2} s of wall time",
            cpu.as_secs_f64(),
            wall.as_secs_f64()
        );
        assert!(wall >= Duration::from_secs(DEADLINE_S), "{wall:?}");
        // Two joins and a few wake-ups take well under 0.1 s; spinning takes a core for the deadline.
        assert!(
            cpu < Duration::from_millis(500),
            "the runner used {:.2} s of CPU waiting {DEADLINE_S} s for an unmet expectation",
            cpu.as_secs_f64()
        );
    });
}

/// A bot without a nick of its own joins as lib-jitsi-meet does: nick = the first 8 characters of its
/// login's local part, display name in presence; under anonymous_strict a chosen nick is refused.
async fn client_identity(version: &str) {
    let stack = start(
        version,
        &variant("jwt-auto-owner-strict"),
        &format!("ident-{version}"),
    )
    .await;
    let ep = stack.endpoints().clone();
    let room = room("ident");
    let config = bot_config(&ep, false);
    let default_join = |name: &str| {
        let token = token_for(&ep, &room, name, &Default::default());
        harness::participant::setup::bot_join(&room, name, None, Some(token), None)
    };
    let bob = Bot::join(&config, default_join("bob"))
        .await
        .expect("a default bot passes strict validation");
    let local = bob.jid().node().map(|n| n.to_string()).unwrap_or_default();
    assert_eq!(bob.nick(), &local[..8], "nick from the login {local}");
    let carol = Bot::join(&config, default_join("carol"))
        .await
        .expect("carol");
    wait_until(&[&bob], DEADLINE, "bob sees carol by display name", |b| {
        b.with_roster(|_, r| r.find("carol").is_some_and(|o| &*o.nick == carol.nick()))
    })
    .await;
    let token = token_for(&ep, &room, "alice", &Default::default());
    let e = Bot::join(&config, join_spec(&room, "alice", Some(token)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, BotError::JoinRefused { condition, text }
            if condition == "not-allowed" && text.as_deref() == Some("Invalid anonymous user ID")),
        "{e}"
    );
    drop((bob, carol));
    stack.close().await.expect("close");
}

/// On the fixture stack with Prosody 0.12 (trial names `prosody012::…`, as in every test binary).
mod prosody012 {
    use super::*;

    #[test]
    fn two_bots_agree() {
        runtime().block_on(rosters_agree("0.12", 2));
    }

    #[test]
    fn five_bots_agree_and_see_one_successor() {
        runtime().block_on(rosters_agree("0.12", 5));
    }

    #[test]
    fn server_stopped_mid_session_is_reported() {
        runtime().block_on(server_lost("0.12", false));
    }

    #[test]
    fn bots_join_with_the_clients_identity() {
        runtime().block_on(client_identity("0.12"));
    }
}

/// On the fixture stack with Prosody 13 (trial names `prosody13::…`, as in every test binary).
mod prosody13 {
    use super::*;

    #[test]
    fn two_bots_agree() {
        runtime().block_on(rosters_agree("13", 2));
    }

    #[test]
    fn five_bots_agree_and_see_one_successor() {
        runtime().block_on(rosters_agree("13", 5));
    }

    #[test]
    fn server_stopped_mid_session_is_reported() {
        runtime().block_on(server_lost("13", false));
    }

    #[test]
    fn server_frozen_mid_session_is_reported_by_keepalive() {
        runtime().block_on(server_lost("13", true));
    }

    #[test]
    fn bots_join_with_the_clients_identity() {
        runtime().block_on(client_identity("13"));
    }
}
