//! Role changes between steps, their causes, and `no_flaps` (issue 13 item 5, issue 15 item 2), on the
//! fixture stack:
//!
//! * `explain` attributes each change of the shipped scenarios to jicofo authentication, auto-owner and
//!   alice's grant, each from evidence the test points at (the focus's `role-grant` log line naming the
//!   role manager, the presence's `<actor/>`, the scenario's own `grant` step);
//! * the test-only focus fault `flap_ms` (grant, revoke, grant within the settle window) fails a
//!   `no_flaps` step, and the same step passes without it.

mod support;

use std::path::Path;
use std::process::Command;

use harness::runner::{run_scenario, RunOptions};
use harness::scenario::{self, Scenario};
use serde_json::Value;
use support::*;

/// `jitsi-harness explain --format json` from the repository; the document and the exit code.
fn explain(scenario: &str, stack: &str) -> (Option<i32>, Value) {
    let root = repo_root();
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "explain",
            "--scenario",
            scenario,
            "--stack",
            stack,
            "--format",
            "json",
            "--artifacts",
        ])
        .arg(artifacts(&format!("explain/{scenario}")))
        .current_dir(&root)
        .env_remove("CI")
        .output()
        .expect("run jitsi-harness explain");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

/// Every change of step `step` (1-based) of the only run, as (who, to, cause kind, manager or by,
/// evidence).
fn changes(doc: &Value, step: usize) -> Vec<(String, String, String, String, String)> {
    let steps = &doc["explain"][0]["timeline"]["steps"];
    steps[step - 1]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let cause = &c["cause"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&c["who"]),
                format!("{}/{}", s(&c["to"]["affiliation"]), s(&c["to"]["role"])),
                s(&cause["kind"]),
                if cause["kind"] == "participant" {
                    s(&cause["by"])
                } else {
                    s(&cause["manager"])
                },
                s(&cause["evidence"]),
            )
        })
        .collect()
}

fn granted<'a>(
    all: &'a [(String, String, String, String, String)],
    who: &str,
) -> Vec<&'a (String, String, String, String, String)> {
    all.iter()
        .filter(|c| c.0 == who && c.1 == "owner/moderator")
        .collect()
}

#[test]
fn explain_attributes_every_token_holder_to_jicofo_authentication() {
    let (code, doc) = explain("jicofo_auth_every_token_holder_is_moderator", "fixture:13");
    assert_eq!(code, Some(0), "{doc:#}");
    for (step, who) in [(1, "alice"), (2, "bob"), (2, "carol")] {
        let all = changes(&doc, step);
        let grants = granted(&all, who);
        assert!(
            !grants.is_empty(),
            "step {step}: no grant of {who}: {all:#?}"
        );
        for g in grants {
            assert_eq!(
                (g.2.as_str(), g.3.as_str()),
                ("role_manager", "AuthenticationRoleManager"),
                "{g:?}"
            );
            // The evidence: the presence's actor and the focus's own log line for this grant.
            assert!(g.4.contains("<actor nick='focus'/>"), "{}", g.4);
            assert!(
                g.4.contains("role-grant room=")
                    && g.4
                        .contains("manager=AuthenticationRoleManager reason=authenticated user"),
                "{}",
                g.4
            );
        }
    }
}

#[test]
fn explain_attributes_first_owner_and_successor_to_auto_owner() {
    let (code, doc) = explain("auto_owner_hands_over", "fixture:13");
    assert_eq!(code, Some(0), "{doc:#}");
    let first = changes(&doc, 1);
    let alice = granted(&first, "alice");
    assert!(!alice.is_empty(), "{first:#?}");
    assert_eq!(
        (alice[0].2.as_str(), alice[0].3.as_str()),
        ("role_manager", "AutoOwnerRoleManager")
    );
    assert!(
        alice[0].4.contains("reason=auto-owner election"),
        "{}",
        alice[0].4
    );
    // The hand-over when alice leaves: whichever of bob and carol jicofo chose.
    let third = changes(&doc, 3);
    let successor: Vec<_> = third
        .iter()
        .filter(|c| (c.0 == "bob" || c.0 == "carol") && c.1 == "owner/moderator")
        .collect();
    assert!(!successor.is_empty(), "{third:#?}");
    for s in successor {
        assert_eq!(s.3, "AutoOwnerRoleManager", "{s:?}");
        assert!(s.4.contains("role-grant room="), "{}", s.4);
    }
}

#[test]
fn explain_attributes_bobs_promotion_to_alices_grant() {
    let (code, doc) = explain("moderator_grants_and_kicks", "fixture:13");
    assert_eq!(code, Some(0), "{doc:#}");
    let fourth = changes(&doc, 4);
    let bob = granted(&fourth, "bob");
    assert!(!bob.is_empty(), "{fourth:#?}");
    for g in bob {
        assert_eq!(
            (g.2.as_str(), g.3.as_str()),
            ("participant", "alice"),
            "{g:?}"
        );
        assert!(g.4.contains("presence <actor/> names alice"), "{}", g.4);
        assert!(g.4.contains("step 4 `grant bob by alice`"), "{}", g.4);
    }
    // alice herself was made owner by auto-owner, not by anyone's grant.
    let alice = changes(&doc, 1);
    assert_eq!(granted(&alice, "alice")[0].3, "AutoOwnerRoleManager");
}

const FLAP: &str = r#"
description = "no_flaps"
variants = ["jwt-auto-owner"]
[participants]
alice = {}
bob = {}
[[step]]
join = ["alice"]
moderators = ["alice"]
no_flaps = true
[[step]]
join = ["bob"]
moderators = ["alice"]
no_flaps = true
"#;

fn flap_scenario() -> Scenario {
    scenario::parse(Path::new("scenarios/flap.toml"), FLAP, &variants())
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

/// A focus that grants, revokes and grants again within the settle window fails a `no_flaps` step, and
/// names the flap; without the fault the same scenario passes, and the grant is in the history.
#[test]
fn a_no_flaps_step_fails_when_the_focus_flaps_and_passes_when_it_does_not() {
    runtime().block_on(async {
        let scenario = flap_scenario();
        let mut flapping = variant("jwt-auto-owner");
        // 100 ms apart: well inside the 300 ms settle window.
        flapping.faults.flap_ms = 100;
        let steady = variant("jwt-auto-owner");
        for (variant, flaps) in [(flapping, true), (steady, false)] {
            let stack = start("13", &variant, "explain-flap").await;
            let options = RunOptions::new(artifacts("explain-flap/run"));
            let timeline = run_scenario(&scenario, &variant, &stack, &options)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            stack.close().await.expect("close");
            let first = &timeline.steps[0];
            let grants: Vec<_> = first
                .changes
                .iter()
                .filter(|c| c.who == "alice" && c.to.is_moderator())
                .collect();
            assert!(!grants.is_empty(), "{:#?}", first.changes);
            let unmet = first.unmet.join("\n");
            if flaps {
                assert!(
                    unmet.contains(
                        "no_flaps: alice went none/participant -> owner/moderator -> none/participant"
                    ) || unmet.contains(
                        "no_flaps: alice went owner/moderator -> none/participant -> owner/moderator"
                    ),
                    "{unmet}\n{:#?}",
                    first.changes
                );
                // The revoke is the focus's, and its log line says it was the fault.
                let revoke = first
                    .changes
                    .iter()
                    .find(|c| c.who == "alice" && !c.to.is_moderator())
                    .expect("a revoke in the history");
                let cause = revoke.cause.as_ref().expect("explained");
                assert!(cause.evidence().contains("FOCUS_FLAP_MS=100"), "{cause:?}");
            } else {
                assert!(unmet.is_empty(), "{unmet}");
                assert_eq!(grants.len(), 1, "{:#?}", first.changes);
            }
        }
    });
}

#[test]
fn no_flaps_and_explain_are_read_from_the_file() {
    let s = flap_scenario();
    assert!(s.steps.iter().all(|step| step.expect.no_flaps));
    assert!(!s.explain);
    let with = format!("explain = true\n{FLAP}");
    let s = scenario::parse(Path::new("scenarios/flap.toml"), &with, &variants())
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    assert!(s.explain);
    let bad = FLAP.replacen("no_flaps = true", "no_flaps = \"yes\"", 1);
    let e = scenario::parse(Path::new("scenarios/flap.toml"), &bad, &variants())
        .map(|_| ())
        .expect_err("a string is no boolean");
    let e = format!("{:?}", miette::Report::new(e));
    assert!(e.contains("flap.toml:10:"), "{e}");
}
