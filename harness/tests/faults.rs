//! Faults named by their cause: a container of the stack that dies, restarts or is paused during a step
//! fails that step at once with the container's name, exit code and last log lines (an infrastructure
//! failure, exit 3), and a fault the scenario asked for (`restart`, `stop`, `pause`) is no failure.
//! Scenario checks of the fault steps need no container.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::runner::events::RunEvent;
use harness::runner::{run_scenario, RunErrorKind, RunOptions};
use harness::scenario::{self, Action, Scenario};
use support::*;

fn parse(text: &str) -> Result<Scenario, String> {
    scenario::parse(Path::new("scenarios/faults.toml"), text, &variants())
        .map_err(|e| format!("{:?}", miette::Report::new(e)))
}

const HEADER: &str = r#"
description = "faults"
variants = ["jwt-auto-owner"]
[participants]
alice = {}
bob = {}
"#;

#[test]
fn fault_steps_parse_with_their_labels() {
    let s = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\", \"bob\"]
[[step]]
restart = \"focus\"
[[step]]
pause = {{ service = \"prosody\", for = \"2s\" }}
[[step]]
restart = \"prosody\"
[[step]]
rejoin = \"bob\"
moderators = [\"bob\"]
[[step]]
stop = \"jicofo\"
"
    ))
    .expect("valid");
    let labels: Vec<String> = s.steps.iter().map(|s| s.label()).collect();
    assert_eq!(
        labels,
        [
            "join alice, bob",
            "restart focus",
            "pause prosody for 2s",
            "restart prosody",
            "rejoin bob",
            "stop jicofo"
        ]
    );
    assert_eq!(
        s.steps[2].action,
        Action::Pause {
            service: "prosody".into(),
            duration: Duration::from_secs(2)
        }
    );
}

#[test]
fn an_unknown_service_is_an_error_at_its_place_listing_the_valid_ones() {
    let e = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"prosodi\"
"
    ))
    .expect_err("unknown service");
    assert!(
        e.contains("unknown service `prosodi` in `restart` of step 2"),
        "{e}"
    );
    assert!(e.contains("faults.toml:11:11"), "file:line:col: {e}");
    assert!(e.contains("did you mean `prosody`?"), "{e}");
    assert!(
        e.contains("`prosody`, `focus`, `jicofo`, `jvb`") && e.contains("`web`"),
        "{e}"
    );
    let e = parse(&format!(
        "{HEADER}
[[step]]
pause = {{ service = \"jvb\", for = \"0s\" }}
"
    ))
    .expect_err("zero pause");
    assert!(e.contains("pauses for no time"), "{e}");
}

#[test]
fn a_prosody_restart_ends_every_session_in_the_replay() {
    // After Prosody restarts, nobody is in the room: `join` again is wrong, `rejoin` is right.
    let e = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"prosody\"
moderators = [\"alice\"]
"
    ))
    .expect_err("alice is out");
    assert!(e.contains("`alice` leaves the room in this step"), "{e}");
    // A focus restart ends no session.
    parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"focus\"
moderators = [\"alice\"]
"
    ))
    .expect("alice stays");
}

/// `docker kill` of Prosody from outside, during a step: the step fails within 2 s, naming Prosody, its
/// exit code and its last log lines; an infrastructure failure.
#[test]
fn docker_kill_of_prosody_fails_the_step_within_2s_with_the_cause() {
    runtime().block_on(async {
        let stack = start("13", &variant("jwt-auto-owner"), "faults-kill").await;
        let scenario = parse(&format!(
            "{HEADER}
[[step]]
join = [\"alice\"]
moderators = [\"alice\"]
[[step]]
wait = \"30s\"
"
        ))
        .expect("valid");
        let prosody = stack
            .containers()
            .into_iter()
            .find(|c| c.service == "prosody")
            .expect("a prosody container");
        let joined = Arc::new(tokio::sync::Notify::new());
        let finished: Arc<Mutex<usize>> = Arc::default();
        let mut options = RunOptions::new(artifacts("faults-kill/run"));
        {
            let joined = joined.clone();
            let finished = finished.clone();
            options.reporter = Some(Arc::new(move |e: &RunEvent<'_>| {
                if let RunEvent::StepFinished { .. } = e {
                    if let Ok(mut n) = finished.lock() {
                        *n += 1;
                    }
                    joined.notify_one();
                }
            }));
        }
        let variant = variant("jwt-auto-owner");
        let run = run_scenario(&scenario, &variant, &stack, &options);
        let killer = async {
            joined.notified().await;
            // Into the 30 s wait of step 2.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let status = tokio::process::Command::new("docker")
                .args(["kill", &prosody.id])
                .stdout(std::process::Stdio::null())
                .status()
                .await
                .expect("docker kill");
            assert!(status.success(), "docker kill {}", prosody.name);
            Instant::now()
        };
        let (result, killed_at) = tokio::join!(run, killer);
        let took = killed_at.elapsed();
        let e = result.expect_err("the step must fail");
        let message = e.to_string();
        assert!(
            took < Duration::from_secs(2),
            "failed {took:?} after the kill: {message}"
        );
        assert!(
            matches!(e.kind, RunErrorKind::ContainerFault { .. }),
            "{message}"
        );
        assert!(
            message.starts_with("prosody exited (137) during step 2 `wait 30s`"),
            "{message}"
        );
        assert!(message.contains("last lines of prosody's log"), "{message}");
        assert!(e.is_infrastructure());
        stack.close().await.expect("close");
    });
}

/// Faults the scenario asks for are no failure: a focus restart keeps everyone in, a Prosody restart
/// ends every session and the participants rejoin, a pause thaws.
#[test]
fn asked_for_faults_are_not_failures() {
    runtime().block_on(async {
        let stack = start("0.12", &variant("jwt-auto-owner"), "faults-asked").await;
        let scenario = parse(&format!(
            "{HEADER}
[[step]]
join = [\"alice\", \"bob\"]
moderator_count = 1
[[step]]
restart = \"focus\"
moderator_count = 1
[[step]]
pause = {{ service = \"focus\", for = \"500ms\" }}
[[step]]
restart = \"prosody\"
moderator_count = 0
[[step]]
rejoin = \"bob\"
moderators = [\"bob\"]
[[step]]
rejoin = \"alice\"
moderators = [\"bob\"]
"
        ))
        .expect("valid");
        let options = RunOptions::new(artifacts("faults-asked/run"));
        let timeline = run_scenario(&scenario, &variant("jwt-auto-owner"), &stack, &options)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let unmet: Vec<_> = timeline.unmet().collect();
        assert!(unmet.is_empty(), "{unmet:#?}");
        stack.close().await.expect("close");
    });
}

/// The golden snapshots under `dir` whose timeline a focus that makes every joiner owner must change:
/// those where someone in the room is not owner after some step. Keyed `scenario@variant`.
fn owners_only_changes(dir: &Path) -> std::collections::BTreeMap<String, bool> {
    let mut changes = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("snapshots/fixture") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("snap") {
            continue;
        }
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let text = std::fs::read_to_string(&path).expect("golden");
        // `… | room: alice:owner/moderator, bob:none/participant`: a seat whose affiliation is not owner.
        let non_owner = text
            .lines()
            .filter_map(|l| l.split_once("| room: ").map(|(_, room)| room))
            .flat_map(|room| room.trim_end_matches('"').split(", "))
            .filter_map(|seat| seat.rsplit_once(':').map(|(_, held)| held))
            .any(|held| held != "empty" && !held.starts_with("owner/"));
        changes.insert(name.to_owned(), non_owner);
    }
    changes
}

/// The test-only focus fault that makes every joiner owner, on every scenario of the suite: the run
/// reports exactly the timelines that change as changed (each with its diff; `unmet` when the scenario
/// file's expectations fail too, which they do for every change here), the others as `same`, none as
/// `failed`, and exit 1; it prints the client's CPU per unmet step, which stays small (the waits sleep
/// on events).
#[test]
fn every_joiner_owner_reports_exactly_the_changed_timelines_and_no_failure() {
    let root = repo_root();
    let dir = root.join("target/test-artifacts/faults-every-joiner-owner");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // The suite's scenarios and goldens, copied: every variant gets the fault under its own name, so
    // each timeline is judged against its usual golden (and no pending snapshot lands in the repo).
    for what in ["scenarios", "snapshots"] {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(root.join(what))
            .arg(dir.join(what))
            .status()
            .expect("cp");
        assert!(status.success(), "cp {what}");
    }
    let variants_path = dir.join("scenarios/variants.toml");
    let mut variants: toml::Table = std::fs::read_to_string(&variants_path)
        .expect("variants.toml")
        .parse()
        .expect("variants.toml parses");
    for (_, variant) in variants.iter_mut() {
        let table = variant.as_table_mut().expect("a variant is a table");
        let faults = table
            .entry("faults")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        faults
            .as_table_mut()
            .expect("faults is a table")
            .insert("every_joiner_owner".into(), toml::Value::Boolean(true));
    }
    std::fs::write(&variants_path, variants.to_string()).expect("write variants.toml");
    let expected = owners_only_changes(&dir.join("snapshots/fixture"));
    assert!(
        expected.values().any(|c| *c) && expected.values().any(|c| !*c),
        "the suite must have timelines the fault changes and others it leaves alone: {expected:?}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args(["--scenarios", "scenarios", "run", "--stack", "fixture:13"])
        .args(["--format", "json", "--artifacts", "artifacts"])
        .current_dir(&dir)
        .env_remove("CI")
        .output()
        .expect("run jitsi-harness");
    let err = String::from_utf8_lossy(&out.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}); stderr:\n{err}"));
    let results = doc["results"].as_array().expect("results");
    let mut seen = std::collections::BTreeMap::new();
    for r in results {
        let cell = format!(
            "{}@{}",
            r["scenario"].as_str().unwrap_or("?"),
            r["variant"].as_str().unwrap_or("?")
        );
        let verdict = r["verdict"].as_str().unwrap_or("?").to_owned();
        assert_ne!(verdict, "failed", "{cell} failed: {}", r["error"]);
        let changed = r["diff"].as_str().is_some_and(|d| !d.is_empty());
        match (changed, verdict.as_str()) {
            (true, "changed" | "unmet") | (false, "same") => {}
            _ => panic!("{cell}: verdict {verdict} with diff {}", r["diff"]),
        }
        seen.insert(cell, changed);
    }
    assert_eq!(
        seen, expected,
        "changed timelines (true) by scenario@variant"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");

    // The CPU line: "… at most 0.123 s of CPU per unmet step".
    let line = err
        .lines()
        .find(|l| l.starts_with("client CPU: "))
        .unwrap_or_else(|| panic!("no client CPU line:\n{err}"));
    let per_step: f64 = line
        .rsplit_once("at most ")
        .and_then(|(_, rest)| rest.split_once(" s of CPU per unmet step"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"));
    eprintln!("{line}");
    // A spinning wait costs about a core for the whole 10 s deadline of each unmet step.
    assert!(per_step < 1.0, "{line}");
}
