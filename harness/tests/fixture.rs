//! The fixture stack on both Prosody versions: start time, token checks, focus answer, owner rules.
//! Needs Docker and the fixture images (`just images`).

mod support;

use std::time::Duration;

use harness::participant::{Bot, BotError};
use harness::stack::Stack;
use harness::token::{Signature, TokenOverrides};
use harness::xmpp::websocket::XmppError;
use support::*;

const DEADLINE: Duration = Duration::from_secs(10);

async fn refused(
    stack: &Stack,
    room: &str,
    token: Option<harness::token::Token>,
    join_room: &str,
) -> BotError {
    let config = bot_config(stack.endpoints(), false);
    let spec = join_spec(join_room, "mallory", token);
    let _ = room;
    match Bot::join(&config, spec).await {
        Ok(bot) => panic!("{} joined although it should have been refused", bot.nick()),
        Err(e) => e,
    }
}

fn tokens_are_checked(version: &str) {
    runtime().block_on(async {
        let stack = start(version, &variant("jwt-auto-owner"), &format!("tokens-{version}")).await;
        let ep = stack.endpoints().clone();
        let room = room("tokens");
        // A valid token joins (and the focus answered ready='true' on the way in).
        let alice = join(&ep, &room, "alice").await.expect("valid token joins");
        assert!(alice.view().roster.me().is_some());

        let missing = refused(&stack, &room, None, &room).await;
        assert!(matches!(&missing, BotError::Xmpp(XmppError::AuthRefused { text: Some(t), .. }) if t == "token required"), "{missing}");

        let expired = token_for(&ep, &room, "mallory", &TokenOverrides { expired: true, ..Default::default() });
        let e = refused(&stack, &room, Some(expired), &room).await;
        assert!(e.to_string().contains("token has expired"), "{e}");

        let wrong = token_for(&ep, &room, "mallory", &TokenOverrides { signature: Signature::WrongSecret, ..Default::default() });
        let e = refused(&stack, &room, Some(wrong), &room).await;
        assert!(e.to_string().contains("signature verification failed"), "{e}");

        let none = token_for(&ep, &room, "mallory", &TokenOverrides { signature: Signature::None, ..Default::default() });
        let e = refused(&stack, &room, Some(none), &room).await;
        assert!(e.to_string().contains("algorithm 'none'"), "{e}");

        // Not valid yet (`nbf` in the future), another issuer, no audience: each refused with its cause.
        let early = token_for(&ep, &room, "mallory", &TokenOverrides { not_yet_valid: true, ..Default::default() });
        let e = refused(&stack, &room, Some(early), &room).await;
        assert!(e.to_string().contains("token is not valid yet (nbf is in the future)"), "{e}");

        let issuer = TokenOverrides { claims: [("iss".to_owned(), serde_json::json!("another-app"))].into(), ..Default::default() };
        let e = refused(&stack, &room, Some(token_for(&ep, &room, "mallory", &issuer)), &room).await;
        assert!(e.to_string().contains("token issuer 'another-app' is not accepted"), "{e}");

        let no_audience = TokenOverrides { remove: vec!["aud".to_owned()], ..Default::default() };
        let e = refused(&stack, &room, Some(token_for(&ep, &room, "mallory", &no_audience)), &room).await;
        assert!(e.to_string().contains("token audience 'nil' is not accepted"), "{e}");

        let numeric_audience = TokenOverrides { claims: [("aud".to_owned(), serde_json::json!(42))].into(), ..Default::default() };
        let e = refused(&stack, &room, Some(token_for(&ep, &room, "mallory", &numeric_audience)), &room).await;
        assert!(e.to_string().contains("token audience '42' is not accepted"), "{e}");

        // A token for another room logs in but the room refuses the join (mod_token_verification).
        let other_room = token_for(&ep, &room, "mallory", &TokenOverrides { room: Some("elsewhere".into()), ..Default::default() });
        let e = refused(&stack, &room, Some(other_room), &room).await;
        assert!(matches!(&e, BotError::JoinRefused { condition, text: Some(t) } if condition == "not-allowed" && t == "Room and token mismatched"), "{e}");

        // Nobody refused got in.
        assert_eq!(participants(&alice), ["alice"]);
        alice.leave().await.expect("leave");
        stack.close().await.expect("close");
    });
}

fn auto_owner_hands_over(version: &str) {
    runtime().block_on(async {
        let stack = start(
            version,
            &variant("jwt-auto-owner"),
            &format!("auto-owner-{version}"),
        )
        .await;
        let ep = stack.endpoints().clone();
        let room = room("handover");
        let alice = join(&ep, &room, "alice").await.expect("alice");
        wait_until(&[&alice], DEADLINE, "alice is moderator", |b| {
            moderators(b) == ["alice"]
        })
        .await;
        let mut others = Vec::new();
        for nick in ["bob", "carol", "dave"] {
            others.push(join(&ep, &room, nick).await.expect(nick));
        }
        let all: Vec<&Bot> = std::iter::once(&alice).chain(others.iter()).collect();
        wait_until(
            &all,
            DEADLINE,
            "everyone sees 4 participants and only alice moderator",
            |b| participants(b).len() == 4 && moderators(b) == ["alice"],
        )
        .await;
        alice.leave().await.expect("alice leaves");
        let rest: Vec<&Bot> = others.iter().collect();
        wait_until(
            &rest,
            DEADLINE,
            "exactly one new moderator, the same for everyone",
            |b| moderators(b).len() == 1 && participants(b).len() == 3,
        )
        .await;
        let successor = moderators(rest[0]);
        for b in &rest {
            assert_eq!(moderators(b), successor, "{} disagrees", b.nick());
        }
        for b in others {
            b.leave().await.expect("leave");
        }
        stack.close().await.expect("close");
    });
}

fn authentication_mode(version: &str) {
    runtime().block_on(async {
        let stack = start(version, &variant("jwt-guests"), &format!("auth-{version}")).await;
        let ep = stack.endpoints().clone();
        let room = room("auth");
        // A guest cannot create the room.
        let guest_config = bot_config(&ep, true);
        let e = Bot::join(&guest_config, join_spec(&room, "guest", None))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, BotError::FocusRefused { condition, .. } if condition == "not-authorized"),
            "{e}"
        );
        let alice = join(&ep, &room, "alice").await.expect("alice");
        let bob = join(&ep, &room, "bob").await.expect("bob");
        let guest = Bot::join(&guest_config, join_spec(&room, "guest", None))
            .await
            .expect("guest joins an existing room");
        wait_until(
            &[&alice, &bob, &guest],
            DEADLINE,
            "every token user is moderator, the guest is not",
            |b| participants(b).len() == 3 && moderators(b) == ["alice", "bob"],
        )
        .await;
        for b in [alice, bob, guest] {
            b.leave().await.expect("leave");
        }
        stack.close().await.expect("close");
    });
}

#[test]
fn a_container_that_never_becomes_ready_fails_with_its_log() {
    runtime().block_on(async {
        // A "focus" that explains itself and exits: the stack must fail at once, quoting it.
        let dir = artifacts("never-ready-focus");
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("broken-focus.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'focus: simulated failure: component secret rejected'\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let target: harness::stack::StackTarget = "fixture:13".parse().unwrap();
        let mut options = harness::stack::StartOptions::new(&dir);
        options.startup_timeout = Duration::from_secs(30);
        options.focus_binary = Some(script);
        let t0 = std::time::Instant::now();
        let e = match Stack::start(&target, &variant("jwt-auto-owner"), &options).await {
            Ok(_) => panic!("a stack with a broken focus must not start"),
            Err(e) => e.to_string(),
        };
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "failed only after {:?}",
            t0.elapsed()
        );
        assert!(e.contains("was not ready") && e.contains("exited"), "{e}");
        assert!(
            e.contains("simulated failure: component secret rejected"),
            "the log tail: {e}"
        );
    });
}

/// On the fixture stack with Prosody 0.12 (trial names `prosody012::…`, as in every test binary).
mod prosody012 {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        super::tokens_are_checked("0.12");
    }

    #[test]
    fn auto_owner_hands_over_when_owner_leaves() {
        auto_owner_hands_over("0.12");
    }

    #[test]
    fn authentication_makes_every_token_user_owner_never_a_guest() {
        authentication_mode("0.12");
    }
}

/// On the fixture stack with Prosody 13 (trial names `prosody13::…`, as in every test binary).
mod prosody13 {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        super::tokens_are_checked("13");
    }

    #[test]
    fn auto_owner_hands_over_when_owner_leaves() {
        auto_owner_hands_over("13");
    }

    #[test]
    fn authentication_makes_every_token_user_owner_never_a_guest() {
        authentication_mode("13");
    }
}
