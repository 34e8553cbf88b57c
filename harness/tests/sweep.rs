//! `jitsi-harness sweep` on the shipped seed scenario (first joiner moderator, the others not, hand-over
//! when the moderator leaves) over jicofo_auth × auto_owner × allow_empty_token on both fixture versions:
//! the answer is pinned — three groups, decided by jicofo_auth=true (everyone moderator), by
//! jicofo_auth=false and auto_owner=true (the scenario's timeline, whatever allow_empty_token), and by
//! jicofo_auth=false and auto_owner=false (nobody) — with the satisfying settings in docker-jitsi-meet
//! env names. A knob the fixture cannot express is skipped with the stack and the knob named.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

fn sweep(args: &[&str], name: &str) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .arg("sweep")
        .args(args)
        .args(["--format", "json", "--artifacts"])
        .arg(artifacts(&format!("sweep/{name}")))
        .current_dir(repo_root())
        .env_remove("CI")
        .output()
        .expect("run jitsi-harness sweep");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code(), doc, stderr)
}

/// `[(knob, value), …]` terms of a group's decision.
fn terms(group: &Value) -> Vec<Vec<(String, bool)>> {
    serde_json::from_value(group["decided_by"].clone()).expect("decided_by")
}

fn term(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn the_seed_sweep_answers_on_both_fixture_versions() {
    let (code, doc, stderr) = sweep(
        &[
            "--scenario",
            "first_joiner_moderator",
            "--stack",
            "fixture:0.12,fixture:13",
            "--knobs",
            "jicofo_auth,auto_owner,allow_empty_token",
        ],
        "seed",
    );
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    let sweeps = doc["sweeps"].as_array().expect("sweeps");
    assert_eq!(sweeps.len(), 2);
    for s in sweeps {
        let target = s["target"].as_str().unwrap_or_default().to_owned();
        assert_eq!(s["cells"].as_array().map(Vec::len), Some(8), "{target}");
        // Every knob is a stack setting: one stack per combination, none skipped on the fixture.
        assert_eq!(s["stacks_started"], 8, "{target}");
        let groups = s["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), 3, "{target}: {groups:#?}");
        let satisfying: Vec<&Value> = groups.iter().filter(|g| g["satisfies"] == true).collect();
        assert_eq!(satisfying.len(), 1, "{target}: {groups:#?}");
        let answer = satisfying[0];
        assert_eq!(
            terms(answer),
            [term(&[("jicofo_auth", false), ("auto_owner", true)])],
            "{target}"
        );
        assert_eq!(
            answer["decision"],
            "with jicofo_auth=false and auto_owner=true, whatever allow_empty_token"
        );
        assert_eq!(answer["members"].as_array().map(Vec::len), Some(2));
        let settings: Vec<Vec<String>> =
            serde_json::from_value(answer["settings"].clone()).expect("settings");
        assert_eq!(
            settings,
            [vec![
                "JICOFO_ENABLE_AUTH=0".to_owned(),
                "ENABLE_AUTO_OWNER=1".to_owned()
            ]],
            "{target}"
        );
        let everyone = groups
            .iter()
            .find(|g| terms(g) == [term(&[("jicofo_auth", true)])])
            .unwrap_or_else(|| panic!("{target}: no jicofo_auth=true group: {groups:#?}"));
        assert_eq!(everyone["members"].as_array().map(Vec::len), Some(4));
        let line = everyone["steps"][1].as_str().unwrap_or_default();
        assert!(
            line.starts_with("2. join bob, carol -> moderators: alice, bob, carol"),
            "{line}"
        );
        let nobody = groups
            .iter()
            .find(|g| terms(g) == [term(&[("jicofo_auth", false), ("auto_owner", false)])])
            .unwrap_or_else(|| panic!("{target}: no auto_owner=false group: {groups:#?}"));
        let line = nobody["steps"][0].as_str().unwrap_or_default();
        assert!(
            line.starts_with("1. join alice -> moderators: nobody"),
            "{line}"
        );
    }
}

#[test]
fn a_knob_the_fixture_cannot_express_is_skipped_with_stack_and_knob_named() {
    let (code, doc, stderr) = sweep(
        &[
            "--scenario",
            "first_joiner_moderator",
            "--stack",
            "fixture:13",
            "--knobs",
            "wait_for_host,lobby",
        ],
        "skip",
    );
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    let s = &doc["sweeps"][0];
    // wait_for_host holds guests in the lobby: with `lobby = false` the fixture cannot express it.
    assert_eq!(s["stacks_started"], 3);
    let skipped: Vec<&Value> = s["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{s:#}");
    let reason = skipped[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("fixture:13: knob `wait_for_host`") && reason.contains("lobby = false"),
        "{reason}"
    );
}

#[test]
fn an_unknown_knob_is_exit_2_listing_the_valid_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "sweep",
            "--scenario",
            "first_joiner_moderator",
            "--knobs",
            "jicofo_auth,auto_ownr",
        ])
        .current_dir(repo_root())
        .output()
        .expect("run jitsi-harness sweep");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown knob `auto_ownr`; valid knobs: jicofo_auth, auto_owner"),
        "{stderr}"
    );
}
