//! The `jitsi-harness` command line: exit codes, errors that say where and what to do, the JSON document,
//! and a hand-edited snapshot failing with a diff that names the step.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args(args)
        .current_dir(dir)
        .env_remove("CI")
        .output()
        .expect("run jitsi-harness")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let d = support::repo_root()
        .join("target/test-artifacts/cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn a_malformed_scenario_is_exit_2_with_file_line_col() {
    let dir = temp_dir("malformed");
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        scenarios.join("variants.toml"),
    )
    .unwrap();
    std::fs::write(
        scenarios.join("typo.toml"),
        "description = \"d\"\nvariants = [\"jwt-auto-owner\"]\n\n[participants]\nalice = {}\n\n[[step]]\njoin = [\"alice\"]\nmoderators = [\"alcie\"]\n",
    )
    .unwrap();
    let out = harness(&["check"], &dir);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("scenarios/typo.toml:9:15"), "{err}");
    assert!(err.contains("alcie") && err.contains("alice"), "{err}");
}

#[test]
fn bad_arguments_and_unknown_stacks_are_exit_2() {
    let root = support::repo_root();
    let out = harness(&["run", "--stack", "fixture:14"], &root);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0.12 and 13"), "{err}");
    let out = harness(&["run", "--stack", "jitsi:stable-abc"], &root);
    assert_eq!(out.status.code(), Some(2));
    let out = harness(&["run", "--no-such-flag"], &root);
    assert_eq!(out.status.code(), Some(2));
    let out = harness(
        &["plan", "--stack", "jitsi:stable-11146", "--variant", "nope"],
        &root,
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("jwt-auto-owner"),
        "lists the known variants: {err}"
    );
}

#[test]
fn no_docker_engine_is_exit_3_saying_what_to_do() {
    let root = support::repo_root();
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "auto_owner_hands_over",
        ])
        .current_dir(&root)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run");
    // Said once, on stderr, before any stack or artifacts folder (tests/hostile.rs checks both).
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker engine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("systemctl start docker") || stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );
}

#[test]
fn plan_prints_a_release_without_docker() {
    let root = support::repo_root();
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "plan",
            "--stack",
            "jitsi:stable-11146",
            "--variant",
            "jwt-auto-owner",
            "--format",
            "json",
        ])
        .current_dir(&root)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run");
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let images: Vec<String> = plan["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["image"]["repository"].as_str().unwrap(),
                c["image"]["tag"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        images.contains(&"ghcr.io/jitsi/prosody:stable-11146".to_owned()),
        "{images:?}"
    );
    assert_secrets_redacted(
        &plan,
        &[
            "JWT_APP_SECRET",
            "JICOFO_AUTH_PASSWORD",
            "JVB_AUTH_PASSWORD",
        ],
    );
}

#[test]
fn the_fixture_plan_redacts_its_secrets() {
    let out = harness(
        &[
            "plan",
            "--stack",
            "fixture:13",
            "--variant",
            "jwt-auto-owner",
            "--format",
            "json",
        ],
        &support::repo_root(),
    );
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_secrets_redacted(&plan, &["JICOFO_COMPONENT_SECRET", "JWT_APP_SECRET"]);
}

/// Whether an environment key names a secret (app secrets, passwords, private keys, tokens).
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    key.contains("SECRET")
        || key.contains("PASSWORD")
        || key.contains("PRIVATE_KEY")
        || key.ends_with("TOKEN")
}

/// Every `KEY: value` of the document (objects, and `[KEY, value]` pairs as the fixture plan writes its
/// environment) whose key names a secret.
fn secret_fields(value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if is_secret_key(k) {
                    out.push((k.clone(), v.clone()));
                }
                secret_fields(v, out);
            }
        }
        serde_json::Value::Array(items) => {
            if let [serde_json::Value::String(k), v] = items.as_slice() {
                if is_secret_key(k) {
                    out.push((k.clone(), v.clone()));
                }
            }
            for v in items {
                secret_fields(v, out);
            }
        }
        _ => {}
    }
}

/// Every secret field of a plan document reads `[redacted]`, and each of `expected` is among them (so the
/// check cannot pass on a document that lost its secrets' keys).
#[track_caller]
fn assert_secrets_redacted(plan: &serde_json::Value, expected: &[&str]) {
    let mut found = Vec::new();
    secret_fields(plan, &mut found);
    for key in expected {
        assert!(
            found.iter().any(|(k, _)| k == key),
            "{key} is not in the plan: {found:?}"
        );
    }
    for (key, value) in &found {
        assert_eq!(
            value.as_str(),
            Some("[redacted]"),
            "{key} is printed unredacted"
        );
    }
}

#[test]
fn a_jitsi_release_whose_images_are_absent_fails_fast() {
    let root = support::repo_root();
    let t0 = std::time::Instant::now();
    let out = harness(
        &[
            "run",
            "--stack",
            "jitsi:stable-11146",
            "--scenario",
            "auto_owner_hands_over",
        ],
        &root,
    );
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{err}");
    assert!(
        stdout.contains("could not pull") && stdout.contains("prosody:stable-11146"),
        "{stdout}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t0.elapsed()
    );
}

fn copy_snapshots(to: &Path) {
    let from = support::repo_root().join("snapshots/fixture");
    std::fs::create_dir_all(to.join("fixture")).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "snap") {
            std::fs::copy(&p, to.join("fixture").join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn a_hand_edited_snapshot_fails_with_a_diff_naming_the_step() {
    let dir = temp_dir("edited");
    let snapshots = dir.join("snapshots");
    copy_snapshots(&snapshots);
    let golden = snapshots.join("fixture/moderator_grants_and_kicks@jwt-auto-owner.snap");
    let text_before = std::fs::read_to_string(&golden).unwrap();
    let edited = text_before.replace(
        "4. grant bob by alice -> moderators: alice, bob",
        "4. grant bob by alice -> moderators: alice",
    );
    assert_ne!(edited, text_before, "the edit must apply");
    std::fs::write(&golden, edited).unwrap();
    let root = support::repo_root();
    let out = harness(
        &[
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "moderator_grants_and_kicks",
            "--snapshots",
            snapshots.to_str().unwrap(),
            "--artifacts",
            dir.join("artifacts").to_str().unwrap(),
        ],
        &root,
    );
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    // The summary line always holds the word "changed"; the scenario's own row must say it.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("moderator_grants_and_kicks "))
        .unwrap_or_else(|| panic!("no matrix row:\n{stdout}"));
    assert!(row.trim_end().ends_with("changed"), "{row}");
    assert!(stdout.contains("0 same, 1 changed, 0 new"), "{stdout}");
    let minus = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("-  - \"4. grant bob by alice"))
        .is_some();
    let plus = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("+  - \"4. grant bob by alice"))
        .is_some();
    assert!(minus && plus, "the diff names step 4:\n{stdout}");
    assert!(snapshots
        .join("fixture/moderator_grants_and_kicks@jwt-auto-owner.snap.new")
        .is_file());
    assert!(stdout.contains("artifacts:"), "{stdout}");
}

#[test]
fn json_format_is_one_document() {
    let dir = temp_dir("json");
    let snapshots = dir.join("snapshots");
    copy_snapshots(&snapshots);
    let out = harness(
        &[
            "run",
            "--stack",
            "fixture:0.12,fixture:13",
            "--scenario",
            "auto_owner_hands_over",
            "--format",
            "json",
            "--snapshots",
            snapshots.to_str().unwrap(),
            "--artifacts",
            dir.join("artifacts").to_str().unwrap(),
        ],
        &support::repo_root(),
    );
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&stdout).expect("one JSON document on stdout");
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r["scenario"], "auto_owner_hands_over");
        assert_eq!(r["variant"], "jwt-auto-owner");
        assert_eq!(r["verdict"], "same");
        let steps = r["steps"].as_array().unwrap();
        assert_eq!(steps[0]["step"], "join alice");
        assert_eq!(steps[0]["moderators"], serde_json::json!(["alice"]));
        assert_eq!(steps[0]["observers_agree"], true);
        let successor = steps[2]["moderators"].as_array().unwrap();
        assert_eq!(successor.len(), 1);
    }
    let stacks: Vec<&str> = results
        .iter()
        .map(|r| r["stack"].as_str().unwrap())
        .collect();
    assert_eq!(stacks, ["fixture:0.12", "fixture:13"]);
}

/// A scenarios folder with the repository's variants and one scenario, `unmet`: alice joins and is
/// moderator, then bob joins, and that step expects `expectation`.
fn one_step_scenario(dir: &Path, expectation: &str) -> PathBuf {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        scenarios.join("variants.toml"),
    )
    .unwrap();
    std::fs::write(
        scenarios.join("unmet.toml"),
        format!(
            "description = \"The first joiner under auto-owner is moderator.\"\nvariants = [\"jwt-auto-owner\"]\ntimeout = \"5s\"\n\n[participants]\nalice = {{}}\nbob = {{}}\n\n[[step]]\njoin = [\"alice\"]\nmoderators = [\"alice\"]\n\n[[step]]\njoin = [\"bob\"]\n{expectation}\n"
        ),
    )
    .unwrap();
    scenarios
}

/// An expectation bob's valid token never meets: he is not refused.
const UNMET: &str = "rejected = [\"bob\"]";
const REFUSED: &str = "bob should have been refused but joined";

fn run_unmet(dir: &Path, scenarios: &Path, format: &str) -> Output {
    harness(
        &[
            "run",
            "--stack",
            "fixture:13",
            "--accept",
            "--format",
            format,
            "--scenarios",
            scenarios.to_str().unwrap(),
            "--snapshots",
            dir.join("snapshots").to_str().unwrap(),
            "--artifacts",
            dir.join("artifacts").to_str().unwrap(),
        ],
        &support::repo_root(),
    )
}

/// An unmet expectation fails its scenario whatever the snapshot says, and `--accept` never writes a
/// timeline with unmet expectations: not over a golden that differs, and a golden that already holds
/// the unmet timeline (as `--accept` used to write it) does not make it pass.
#[test]
fn an_unmet_expectation_fails_whatever_the_snapshot_says() {
    let dir = temp_dir("unmet");
    let golden = dir.join("snapshots/fixture/unmet@jwt-auto-owner.snap");
    // 1. Met: the timeline is new and --accept writes it.
    let scenarios = one_step_scenario(&dir, "moderators = [\"alice\"]");
    let out = run_unmet(&dir, &scenarios, "text");
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(stdout.contains("wrote"), "{stdout}");
    let accepted = std::fs::read_to_string(&golden).expect("--accept wrote the golden");

    // 2. The scenario file now states something false: unmet (exit 1), the diff shown, nothing written.
    let scenarios = one_step_scenario(&dir, UNMET);
    let out = run_unmet(&dir, &scenarios, "json");
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let result = &doc["results"][0];
    assert_eq!(result["verdict"], "unmet", "{stdout}");
    let unmet = result["unmet"].as_array().expect("the unmet expectations");
    assert_eq!(unmet.len(), 1, "{stdout}");
    let listed = unmet[0].as_str().unwrap();
    assert!(
        listed.starts_with("step 2 `join bob`") && listed.contains(REFUSED),
        "{stdout}"
    );
    let diff = result["diff"]
        .as_str()
        .expect("the changed diff is still shown");
    assert_eq!(
        std::fs::read_to_string(&golden).unwrap(),
        accepted,
        "--accept overwrote the golden with an unmet timeline"
    );
    assert!(!golden.with_extension("snap.new").exists());

    // 3. A golden holding the unmet timeline, as --accept used to write it: still unmet, exit 1.
    let old = diff
        .lines()
        .find_map(|l| l.strip_prefix('-'))
        .expect("a removed line");
    let new = diff
        .lines()
        .find_map(|l| l.strip_prefix('+'))
        .expect("an added line");
    assert!(new.contains("UNMET"), "{diff}");
    std::fs::write(&golden, accepted.replace(old, new)).unwrap();
    let out = run_unmet(&dir, &scenarios, "text");
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("unmet "))
        .expect("a matrix row");
    assert!(row.contains("unmet (1)"), "{stdout}");
    assert!(!row.contains("same"), "{stdout}");
    assert!(
        stdout.contains("step 2 `join bob` (") && stdout.contains(REFUSED),
        "the unmet expectation is listed:\n{stdout}"
    );
    assert!(!stdout.contains("vs this run"), "no diff: {stdout}");
    assert!(
        stdout.contains("0 same, 0 changed, 0 new, 1 unmet, 0 failed"),
        "{stdout}"
    );
}

/// `--accept` says why it did not write a timeline with unmet expectations.
#[test]
fn accept_refuses_an_unmet_timeline_and_says_so() {
    let dir = temp_dir("unmet-new");
    let scenarios = one_step_scenario(&dir, UNMET);
    let out = run_unmet(&dir, &scenarios, "text");
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(stdout.contains("no snapshot written"), "{stdout}");
    assert!(stdout.contains("change the scenario file"), "{stdout}");
    assert!(!dir
        .join("snapshots/fixture/unmet@jwt-auto-owner.snap")
        .exists());
}
