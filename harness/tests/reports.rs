//! The reports of `run`: the HTML page loaded from disk in headless Chromium (DOM and a screenshot kept
//! in `target/test-artifacts/reports/`), report paths checked before any stack starts, and one fixture
//! run on both Prosody versions writing JUnit, Markdown and HTML.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use harness::participant::browser::{capabilities, Driver, DriverOptions, DEFAULT_CHROMIUM};
use harness::report::html;
use harness::runner::outcome::{Outcome, ScenarioResult};
use harness::stack::StackTarget;
use harness::timeline::{Seat, StepRecord, Timeline, View};

fn out_dir(name: &str) -> PathBuf {
    let d = support::artifacts("reports").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("test folder");
    d
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args(args)
        .current_dir(support::repo_root())
        .env_remove("CI")
        .output()
        .expect("run jitsi-harness")
}

/// A step seen alike by everyone present: `(name, affiliation, role)`.
fn step(index: usize, label: &str, seats: &[(&str, &str, &str)]) -> StepRecord {
    let view = View {
        occupants: seats
            .iter()
            .map(|(n, a, r)| {
                (
                    n.to_string(),
                    Seat {
                        role: r.parse().unwrap(),
                        affiliation: Some(a.parse().unwrap()),
                    },
                )
            })
            .collect(),
    };
    StepRecord {
        index,
        label: label.into(),
        location: format!("scenarios/handover.toml:{}", 10 + index),
        views: seats
            .iter()
            .map(|(n, _, _)| (n.to_string(), view.clone()))
            .collect(),
        jicofo: None,
        rejected: BTreeMap::new(),
        refused: Vec::new(),
        waiting: BTreeMap::new(),
        converged: true,
        unmet: Vec::new(),
        took: Duration::ZERO,
        changes: Vec::new(),
    }
}

/// `handover` on `stack`: alice joins, bob and carol join, mallory is refused, alice leaves; after that
/// bob is `bob_after` (`owner` or `participant`). On `disagree`, carol's observer sees bob as a
/// participant in the last step.
fn result(stack: &str, bob_after: &str, outcome: Outcome, disagree: bool) -> ScenarioResult {
    let target: StackTarget = stack.parse().unwrap();
    let part = ("none", "participant");
    let bob = if bob_after == "owner" {
        ("owner", "moderator")
    } else {
        part
    };
    let mut refused = step(
        2,
        "join mallory",
        &[
            ("alice", "owner", "moderator"),
            ("bob", part.0, part.1),
            ("carol", part.0, part.1),
        ],
    );
    refused
        .rejected
        .insert("mallory".into(), "token has expired".into());
    let mut last = step(
        3,
        "leave alice",
        &[("bob", bob.0, bob.1), ("carol", part.0, part.1)],
    );
    if disagree {
        let carol_view = last.views.get_mut("carol").unwrap();
        carol_view.occupants.insert(
            "bob".into(),
            Seat {
                role: "participant".parse().unwrap(),
                affiliation: Some("none".parse().unwrap()),
            },
        );
    }
    let timeline = Timeline {
        scenario: "handover".into(),
        variant: "jwt-auto-owner".into(),
        stack: target.clone(),
        room: "r".into(),
        steps: vec![
            step(0, "join alice", &[("alice", "owner", "moderator")]),
            step(
                1,
                "join bob, carol",
                &[
                    ("alice", "owner", "moderator"),
                    ("bob", part.0, part.1),
                    ("carol", part.0, part.1),
                ],
            ),
            refused,
            last,
        ],
    };
    ScenarioResult {
        scenario: "handover".into(),
        path: "scenarios/handover.toml".into(),
        variant: "jwt-auto-owner".into(),
        target,
        outcome,
        timeline: Some(timeline),
        body: None,
        snapshot: "snapshots/fixture/handover@jwt-auto-owner.snap".into(),
        written: None,
        withheld: false,
        artifacts: support::artifacts("reports")
            .join("html/artifacts")
            .join(stack.replace(':', "-")),
        took: Duration::ZERO,
    }
}

#[test]
fn the_html_report_draws_highlighted_cells_in_chromium() {
    if let Err(e) = DriverOptions::from_env().check_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium: {e}"
        );
        eprintln!("skipped: {e}");
        return;
    }
    let dir = out_dir("html");
    let changed = "-  - \"4. leave alice -> moderators: bob | room: bob:owner/moderator, carol:none/participant\"\n\
+  - \"4. leave alice -> moderators: nobody | room: bob:none/participant, carol:none/participant\"\n";
    let results = vec![
        result("jitsi:stable-10008", "owner", Outcome::Same, false),
        result(
            "jitsi:stable-10184",
            "participant",
            Outcome::Changed {
                diff: changed.into(),
            },
            false,
        ),
        result("jitsi:stable-10314", "owner", Outcome::Same, true),
    ];
    let stacks: Vec<StackTarget> = [
        "jitsi:stable-10008",
        "jitsi:stable-10184",
        "jitsi:stable-10314",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let page = html::write(&dir, &results, &stacks).expect("write the report");
    let rt = support::runtime();
    rt.block_on(async {
        let driver = Driver::from_env().await.expect("chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut builder = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        );
        builder.capabilities(capabilities(
            Some(Path::new(DEFAULT_CHROMIUM)),
            profile.path(),
            false,
        ));
        let client = builder.connect(driver.url()).await.expect("session");
        let url = url::Url::from_file_path(std::path::absolute(&page).unwrap()).unwrap();
        client.set_window_size(1500, 900).await.expect("window size");
        client.goto(url.as_str()).await.expect("load the report");
        let js = |script: &'static str| {
            let client = client.clone();
            async move {
                client
                    .execute(script, vec![])
                    .await
                    .expect("script")
                    .as_u64()
                    .unwrap_or(u64::MAX)
            }
        };
        let rows = js("return document.querySelectorAll('table.timeline tbody tr').length").await;
        let matrix = js("return document.querySelectorAll('#matrix tbody tr').length").await;
        let prev = js("return document.querySelectorAll('td.changed-prev').length").await;
        let bob13 = js("return document.querySelectorAll('tr[data-step=\"4\"] td.changed-prev.changed-golden[data-stack=\"jitsi:stable-10184\"][data-participant=\"bob\"]').length").await;
        let refused = js("return document.querySelectorAll('tr[data-step=\"3\"] td.refused[data-participant=\"mallory\"]').length").await;
        let disagree = js("return document.querySelectorAll('td.disagree[data-stack=\"jitsi:stable-10314\"]').length").await;
        let fetches = js("return performance.getEntriesByType('resource').length").await;
        let screenshot = client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join("report.png"), &screenshot).expect("keep the screenshot");
        client.close().await.expect("close the session");
        driver.close().await.expect("close chromedriver");
        assert_eq!(rows, 4, "one row per step");
        assert_eq!(matrix, 1);
        // bob at step 4: owner, then participant, then disagreed on: the second and third both changed.
        assert_eq!(prev, 2);
        assert_eq!(bob13, 1, "bob's cell on the second stack changed vs the first and vs the golden");
        assert_eq!(refused, 3, "mallory refused on each stack");
        assert_eq!(disagree, 1, "the observers' disagreement on bob is marked");
        assert_eq!(fetches, 0, "the page fetches nothing");
    });
}

#[test]
fn a_report_path_that_cannot_be_written_is_exit_2_before_any_stack_starts() {
    let dir = out_dir("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    for flag in ["--junit", "--markdown", "--html"] {
        let bad = file.join("report");
        let t0 = std::time::Instant::now();
        let out = harness(&[
            "run",
            "--stack",
            "fixture:13",
            flag,
            bad.to_str().unwrap(),
            "--artifacts",
            dir.join("artifacts").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(flag) && err.contains("choose a writable path"),
            "{err}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no stack was started"
        );
        assert!(!dir.join("artifacts").exists(), "nothing ran");
    }
}

#[test]
fn a_two_stack_fixture_run_writes_junit_markdown_and_html() {
    let dir = out_dir("fixture");
    let snapshots = dir.join("snapshots/fixture");
    std::fs::create_dir_all(&snapshots).unwrap();
    let name = "last_moderator_leaves_empty_room@jwt-auto-owner.snap";
    let golden = std::fs::read_to_string(support::repo_root().join("snapshots/fixture").join(name))
        .expect("golden snapshot");
    let edited = golden.replace(
        "3. join bob -> moderators: bob | room: bob:owner/moderator",
        "3. join bob -> moderators: nobody | room: bob:none/participant",
    );
    assert_ne!(edited, golden, "the edit must apply");
    std::fs::write(snapshots.join(name), edited).unwrap();
    let (junit, md, html_dir) = (
        dir.join("junit.xml"),
        dir.join("summary.md"),
        dir.join("html"),
    );
    let out = harness(&[
        "run",
        "--stack",
        "fixture:0.12,fixture:13",
        "--scenario",
        "last_moderator_leaves_empty_room",
        "--snapshots",
        dir.join("snapshots").to_str().unwrap(),
        "--artifacts",
        dir.join("artifacts").to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--html",
        html_dir.to_str().unwrap(),
    ]);
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(stdout.contains("last_moderator_leaves_empty_room jwt-auto-owner: same timeline on fixture:0.12, fixture:13"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    assert!(
        xml.contains(r#"tests="2" skipped="0" failures="2" errors="0""#),
        "{xml}"
    );
    assert!(
        xml.contains("+  - &quot;3. join bob -&gt; moderators: bob"),
        "{xml}"
    );
    let md = std::fs::read_to_string(&md).expect("summary.md");
    assert!(
        md.contains(
            "| last_moderator_leaves_empty_room | jwt-auto-owner | ✗ changed | ✗ changed | same |"
        ),
        "{md}"
    );
    assert!(md.contains("```diff\n"), "{md}");
    let page = std::fs::read_to_string(html_dir.join("index.html")).expect("index.html");
    assert_eq!(
        page.matches("changed-golden\" data-stack=").count(),
        2,
        "bob's cell on both stacks"
    );
}

#[test]
fn report_merge_of_two_shards_equals_the_unsharded_run() {
    let dir = out_dir("merge");
    let stacks: Vec<StackTarget> = ["fixture:0.12", "fixture:13"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let changed = "-  - \"4. leave alice -> moderators: bob | room: bob:owner/moderator, carol:none/participant\"\n\
+  - \"4. leave alice -> moderators: nobody | room: bob:none/participant, carol:none/participant\"\n";
    let mut full = vec![
        result("fixture:0.12", "owner", Outcome::Same, false),
        result(
            "fixture:13",
            "participant",
            Outcome::Changed {
                diff: changed.into(),
            },
            false,
        ),
    ];
    for stack in ["fixture:0.12", "fixture:13"] {
        let mut r = result(stack, "owner", Outcome::Same, false);
        r.variant = "jwt-guests".into();
        if let Some(t) = &mut r.timeline {
            t.variant = "jwt-guests".into();
        }
        full.push(r);
    }
    full.sort_by(|a, b| {
        (&a.scenario, &a.variant, &a.target).cmp(&(&b.scenario, &b.variant, &b.target))
    });
    let json = |results: &[ScenarioResult]| {
        serde_json::to_string_pretty(&harness::report::json(results, &stacks)).unwrap()
    };
    // Shards as `--partition 1/2` and `2/2` deal them: alternate cells, each holding one stack of the
    // differing pair, so the comparison can only come out of the merge.
    let (one, two): (Vec<_>, Vec<_>) = full
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let one: Vec<ScenarioResult> = one.into_iter().map(|(_, r)| r).collect();
    let two: Vec<ScenarioResult> = two.into_iter().map(|(_, r)| r).collect();
    let (a, b) = (dir.join("shard-1.json"), dir.join("shard-2.json"));
    std::fs::write(&a, json(&one)).unwrap();
    std::fs::write(&b, json(&two)).unwrap();
    let merged = harness(&[
        "report",
        "merge",
        b.to_str().unwrap(),
        a.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&merged.stderr);
    assert_eq!(merged.status.code(), Some(1), "a changed timeline: {err}");
    assert_eq!(
        String::from_utf8_lossy(&merged.stdout).trim_end(),
        json(&full),
        "{err}"
    );
    let text = harness(&["report", "merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        harness::report::text(&full, &stacks)
    );
    let twice = harness(&["report", "merge", a.to_str().unwrap(), a.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{err}");
    assert!(err.contains("in more than one file"), "{err}");
}

/// The release loop's own question on real stacks: 0.12 against 13 where only 13 changes behaviour (a
/// test-only focus fault scoped to that stack, `faults.only_on`). The comparison names fixture:13 as the
/// first stack that differs and step 2 as the step, with bob's and carol's seats before and after; the
/// JUnit, markdown and HTML reports carry the same difference.
#[test]
fn a_behaviour_change_on_one_of_two_fixture_stacks_is_named_with_its_stack_and_step() {
    let dir = out_dir("one-side");
    let scenarios = dir.join("scenarios");
    let snapshots = dir.join("snapshots/fixture");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::create_dir_all(&snapshots).unwrap();
    let root = support::repo_root();
    // The library scenario as it is (on fixture:13 its expectations are unmet too: a failure either way),
    // with a short step deadline, since each unmet step waits out its deadline.
    let text = std::fs::read_to_string(root.join("scenarios/auto_owner_hands_over.toml")).unwrap();
    let text = text.replacen(
        "\n[participants]",
        "\ntimeout = \"3s\"\n\n[participants]",
        1,
    );
    assert!(text.contains("timeout = \"3s\""), "the deadline must apply");
    std::fs::write(scenarios.join("auto_owner_hands_over.toml"), text).unwrap();
    std::fs::write(
        scenarios.join("variants.toml"),
        "[jwt-auto-owner]\ndescription = \"jwt-auto-owner; on fixture:13 only, the focus makes every joiner owner\"\n\
         jwt = true\nallow_empty_token = false\njicofo_auth = false\nauto_owner = true\n\
         faults = { every_joiner_owner = true, only_on = \"fixture:13\" }\n",
    )
    .unwrap();
    let name = "auto_owner_hands_over@jwt-auto-owner.snap";
    std::fs::copy(
        root.join("snapshots/fixture").join(name),
        snapshots.join(name),
    )
    .unwrap();
    let (junit, md, html_dir) = (
        dir.join("junit.xml"),
        dir.join("summary.md"),
        dir.join("html"),
    );
    let out = harness(&[
        "--scenarios",
        scenarios.to_str().unwrap(),
        "run",
        "--stack",
        "fixture:0.12,fixture:13",
        "--snapshots",
        dir.join("snapshots").to_str().unwrap(),
        "--artifacts",
        dir.join("artifacts").to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--html",
        html_dir.to_str().unwrap(),
    ]);
    let (stdout, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(
        stdout.contains("auto_owner_hands_over jwt-auto-owner: first differs on fixture:13"),
        "{stdout}"
    );
    assert!(stdout.contains("  fixture:13 vs fixture:0.12:"), "{stdout}");
    assert!(stdout.contains("    step 2 `join bob, carol`:"), "{stdout}");
    assert!(
        stdout.contains("      bob: none/participant -> owner/moderator"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    assert!(
        xml.contains(r#"tests="2" skipped="0" failures="1" errors="0""#),
        "{xml}"
    );
    let md = std::fs::read_to_string(&md).expect("summary.md");
    assert!(md.contains("```diff\n"), "{md}");
    assert!(md.contains("fixture:13"), "{md}");
    let page = std::fs::read_to_string(html_dir.join("index.html")).expect("index.html");
    assert!(
        page.matches("changed-prev").count() >= 2,
        "bob's and carol's cells on fixture:13 are highlighted against fixture:0.12"
    );
}
