//! `jitsi-harness bisect` end to end, against a list of local-image releases where a test-only fault makes
//! the timeline change from a known release on. A `harness = false` test binary (libtest-mimic):
//!
//! * `jitsi_local::bisect::finds_the_first_release_with_the_fault_within_the_probe_bound`: the
//!   Jitsi-shaped stable-11031 images (`docker/jitsi/`) are tagged, under a prefix of this test's own, as
//!   stable-10741, stable-10888, stable-10978 and stable-11031: releases whose plans present the same
//!   container interface as stable-11031's (their plan snapshots under `stack/jitsi/snapshots/` differ only in
//!   the tag; stable-10741 is the first with register-setup's ready line, which the images print). From
//!   stable-10978 on, jicofo's image is a derived one whose entrypoint runs the image's own with
//!   `ENABLE_AUTO_OWNER=0` — the env the real jicofo image reads (`jicofo.conf` template), forced whatever
//!   the harness sets: a test-only fault, no code of the stand-in's. `bisect` must name stable-10978 as the
//!   first differing release after at most ⌈log2 4⌉ + 1 = 3 probes (exactly 3 here: stable-10741, then
//!   stable-10978, then stable-10888), with the differing step, the compare URL, one stack per probe, and
//!   nothing of the run left (containers, networks); the test removes every tag it made.
//! * `jitsi_local::bisect::the_same_timeline_on_both_ends_is_nothing_to_bisect`: two releases without the
//!   fault: exit 2 after probing both, saying so.
//! * `jitsi_local::bisect::ctrl_c_during_a_probe_leaves_no_container`: SIGINT while the first probe's stack
//!   is up: exit 130, nothing of the run left.
//! * `bisect::bad_input::*`: good newer than bad, an unknown tag (the nearest known ones named), a moving
//!   tag, an unknown scenario and variant: exit 2 before any stack starts (no Docker needed).
//!
//! The timelines are the stand-ins', compared with each other only: nothing here reads or writes a golden.

mod skip;
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::stack::docker::{self, LABEL_PID, LABEL_RUN};
use libtest_mimic::{Arguments, Failed, Trial};
use testcontainers::bollard::models::{ContainerConfig, ContainerCreateBody};
use testcontainers::bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptions, TagImageOptionsBuilder,
};
use testcontainers::bollard::Docker;

/// The Jitsi-shaped images every test release is made from.
const BASE: &str = "jitsi-harness.local/jitsi";
const BASE_RELEASE: &str = "stable-11031";
const SERVICES: [&str; 4] = ["prosody", "jicofo", "jvb", "web"];
/// Known releases with stable-11031's container interface, oldest first.
const RELEASES: [&str; 4] = [
    "stable-10741",
    "stable-10888",
    "stable-10978",
    "stable-11031",
];
/// The fault is in every release from this one on.
const FAULT_FROM: &str = "stable-10978";
/// jicofo with auto-owner off whatever the container's env says: the image's own entrypoint, run with
/// docker-jitsi-meet's `ENABLE_AUTO_OWNER=0`.
const FAULT: &str = r#"ENTRYPOINT ["/usr/bin/env", "ENABLE_AUTO_OWNER=0", "/usr/local/bin/jitsi-harness-entrypoint"]"#;

/// A scenario whose first step shows whether jicofo's auto-owner is on: alice, the first joiner, is owner
/// with it and nobody is without it (the step then waits out its 8 s deadline).
const SCENARIO: &str = r#"description = "Test-only: the first joiner becomes owner while jicofo's auto-owner is on."
variants = ["jwt-auto-owner"]
timeout = "8s"

[participants]
alice = {}
bob = {}

[[step]]
join = ["alice"]
moderators = ["alice"]

[[step]]
join = ["bob"]
"#;

fn main() {
    let args = Arguments::from_args();
    let missing = missing_prerequisite();
    let required = skip::in_ci();
    let mut trials = vec![
        skip::trial(
            &args,
            "jitsi_local::bisect::finds_the_first_release_with_the_fault_within_the_probe_bound",
            missing.as_deref(),
            required,
            finds_the_first_release_with_the_fault,
        ),
        skip::trial(
            &args,
            "jitsi_local::bisect::the_same_timeline_on_both_ends_is_nothing_to_bisect",
            missing.as_deref(),
            required,
            same_on_both_ends,
        ),
        skip::trial(
            &args,
            "jitsi_local::bisect::ctrl_c_during_a_probe_leaves_no_container",
            missing.as_deref(),
            required,
            ctrl_c_leaves_nothing,
        ),
    ];
    for (name, cli_args, expected) in bad_inputs() {
        trials.push(Trial::test(
            format!("bisect::bad_input::{name}"),
            move || bad_input(&cli_args, expected),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Why the container trials cannot run here, if they cannot: Docker, or a base image.
fn missing_prerequisite() -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let docker = match docker::connect().await {
            Ok(d) => d,
            Err(e) => return Some(format!("Docker is not reachable: {e}")),
        };
        let mut missing = Vec::new();
        for service in SERVICES {
            let image = format!("{BASE}/{service}:{BASE_RELEASE}");
            if !docker::image_present(&docker, &image)
                .await
                .unwrap_or(false)
            {
                missing.push(image);
            }
        }
        (!missing.is_empty()).then(|| {
            format!(
                "images not built: {} (build them with `./just jitsi-images`)",
                missing.join(", ")
            )
        })
    })
}

/// A scenarios folder with the repository's variants and [`SCENARIO`] as `bisect_probe`.
fn scenarios(test: &str) -> Result<(tempfile::TempDir, PathBuf), Failed> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("jitsi-harness-{test}-"))
        .tempdir()
        .map_err(|e| Failed::from(format!("temp dir: {e}")))?;
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).map_err(|e| Failed::from(e.to_string()))?;
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        scenarios.join("variants.toml"),
    )
    .map_err(|e| Failed::from(format!("copy variants.toml: {e}")))?;
    std::fs::write(scenarios.join("bisect_probe.toml"), SCENARIO)
        .map_err(|e| Failed::from(e.to_string()))?;
    Ok((dir, scenarios))
}

/// `jitsi-harness --scenarios DIR bisect ARGS…` with an empty releases cache; its output.
fn bisect(scenarios: &Path, cache: &Path, args: &[&str]) -> Result<Output, Failed> {
    Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .arg("--scenarios")
        .arg(scenarios)
        .arg("bisect")
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("JITSI_HARNESS_REGISTRY")
        .current_dir(support::repo_root())
        .output()
        .map_err(|e| Failed::from(format!("cannot run jitsi-harness: {e}")))
}

/// The tags a trial made, removed when it ends (passing or not).
struct Tags {
    docker: Docker,
    made: Vec<String>,
}

impl Tags {
    /// `BASE/<service>:stable-11031` as `prefix/<service>:<release>` for every release, jicofo from
    /// `fault_from` on as the derived image with [`FAULT`].
    async fn make(prefix: &str, fault_from: Option<&str>) -> Result<Tags, String> {
        let docker = docker::connect().await.map_err(|e| e.to_string())?;
        let mut tags = Tags {
            docker,
            made: Vec::new(),
        };
        if let Err(e) = tags.tag_all(prefix, fault_from).await {
            // What was made before the failure goes too.
            let _ = tags.remove().await;
            return Err(e);
        }
        Ok(tags)
    }

    async fn tag_all(&mut self, prefix: &str, fault_from: Option<&str>) -> Result<(), String> {
        let tags = self;
        let fault = match fault_from {
            Some(_) => Some(tags.commit_fault(prefix).await?),
            None => None,
        };
        let fault_index = fault_from.and_then(|f| RELEASES.iter().position(|r| *r == f));
        for (i, release) in RELEASES.iter().enumerate() {
            for service in SERVICES {
                let source = match (&fault, fault_index) {
                    (Some(image), Some(from)) if service == "jicofo" && i >= from => image.clone(),
                    _ => format!("{BASE}/{service}:{BASE_RELEASE}"),
                };
                let repo = format!("{prefix}/{service}");
                tags.docker
                    .tag_image(
                        &source,
                        Some(
                            TagImageOptionsBuilder::new()
                                .repo(&repo)
                                .tag(release)
                                .build(),
                        ),
                    )
                    .await
                    .map_err(|e| format!("docker tag {source} {repo}:{release}: {e}"))?;
                tags.made.push(format!("{repo}:{release}"));
            }
        }
        Ok(())
    }

    /// jicofo's base image committed with [`FAULT`] as `prefix/jicofo-fault:test`.
    async fn commit_fault(&mut self, prefix: &str) -> Result<String, String> {
        let base = format!("{BASE}/jicofo:{BASE_RELEASE}");
        let name = format!(
            "jh-bisect-fault-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        // Created, never started; labelled like the harness's own so `clean` would sweep it.
        let labels = HashMap::from([
            (LABEL_RUN.to_owned(), docker::run_id().to_owned()),
            (LABEL_PID.to_owned(), std::process::id().to_string()),
        ]);
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(&name).build()),
                ContainerCreateBody {
                    image: Some(base.clone()),
                    labels: Some(labels),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("docker create {base}: {e}"))?;
        let repo = format!("{prefix}/jicofo-fault");
        let committed = self
            .docker
            .commit_container(
                CommitContainerOptionsBuilder::new()
                    .container(&created.id)
                    .repo(&repo)
                    .tag("test")
                    .pause(false)
                    .changes(FAULT)
                    .build(),
                ContainerConfig::default(),
            )
            .await
            .map_err(|e| format!("docker commit {name}: {e}"));
        let removed = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
            .await
            .map_err(|e| format!("docker rm {name}: {e}"));
        committed?;
        let image = format!("{repo}:test");
        self.made.push(image.clone());
        removed?;
        Ok(image)
    }

    /// Whether any tag made is still present.
    async fn any_left(&self) -> Vec<String> {
        let mut left = Vec::new();
        for tag in &self.made {
            if docker::image_present(&self.docker, tag)
                .await
                .unwrap_or(true)
            {
                left.push(tag.clone());
            }
        }
        left
    }

    async fn remove(&self) -> Result<(), String> {
        let mut failed = Vec::new();
        for tag in &self.made {
            if let Err(e) = self
                .docker
                .remove_image(tag, None::<RemoveImageOptions>, None)
                .await
            {
                failed.push(format!("{tag}: {e}"));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("cannot remove test tags: {}", failed.join("; ")))
        }
    }
}

/// Runs `body` with the release tags made under a fresh prefix, then removes them and checks that none
/// is left; `body`'s failure wins over a cleanup failure.
fn with_tags(
    fault_from: Option<&str>,
    body: impl FnOnce(&str) -> Result<(), Failed>,
) -> Result<(), Failed> {
    let rt = support::runtime();
    let prefix = format!(
        "jitsi-harness.local/bisect-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let tags = match rt.block_on(Tags::make(&prefix, fault_from)) {
        Ok(tags) => tags,
        Err(e) => return Err(Failed::from(format!("making the test releases: {e}"))),
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&prefix)));
    let removed = rt.block_on(tags.remove());
    let left = rt.block_on(tags.any_left());
    match outcome {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    removed.map_err(Failed::from)?;
    if !left.is_empty() {
        return Err(Failed::from(format!(
            "test tags left behind: {}",
            left.join(", ")
        )));
    }
    Ok(())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(ok: bool, what: &str, out: &Output) -> Result<(), Failed> {
    if ok {
        return Ok(());
    }
    Err(Failed::from(format!(
        "{what}\n--- exit: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )))
}

/// Nothing of the child's run is left: no container, no network carries its pid.
fn nothing_left(out: &Output, pid_of: &str) -> Result<(), Failed> {
    let rt = support::runtime();
    let left = rt.block_on(support::labelled(LABEL_PID, pid_of));
    check(
        left == (0, 0),
        &format!("containers/networks of the bisect survived: {left:?}"),
        out,
    )
}

/// Runs the CLI child and returns its output and pid (spawned, so the pid is known for the leftover check).
fn bisect_child(scenarios: &Path, cache: &Path, args: &[&str]) -> Result<(Output, String), Failed> {
    let child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .arg("--scenarios")
        .arg(scenarios)
        .arg("bisect")
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("JITSI_HARNESS_REGISTRY")
        .current_dir(support::repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failed::from(format!("cannot run jitsi-harness: {e}")))?;
    let pid = child.id().to_string();
    let out = child
        .wait_with_output()
        .map_err(|e| Failed::from(format!("waiting for jitsi-harness: {e}")))?;
    Ok((out, pid))
}

fn finds_the_first_release_with_the_fault() -> Result<(), Failed> {
    let (tmp, scenarios) = scenarios("bisect-finds")?;
    let artifacts = support::artifacts("bisect-finds");
    with_tags(Some(FAULT_FROM), |prefix| {
        let (out, pid) = bisect_child(
            &scenarios,
            tmp.path(),
            &[
                "--good",
                RELEASES[0],
                "--bad",
                RELEASES[3],
                "--scenario",
                "bisect_probe",
                "--registry",
                prefix,
                "--artifacts",
                &artifacts.to_string_lossy(),
            ],
        )?;
        nothing_left(&out, &pid)?;
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        // What a person reads (shown with --no-capture).
        eprintln!("{stdout}");
        check(out.status.code() == Some(0), "bisect must exit 0", &out)?;
        check(
            stdout.contains(
                "over 4 releases, stable-10741 (good) to stable-11031 (bad): at most 3 probes",
            ),
            "the header names the range and the probe bound",
            &out,
        )?;
        // Binary search: the good release, then the middle (stable-10978: differs), then stable-10888.
        let probes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("probe ")).collect();
        let expected = [
            "probe 1: stable-10741: good (reference)",
            "probe 2: stable-10978: differs vs stable-10741",
            "probe 3: stable-10888: same vs stable-10741",
        ];
        check(
            probes.len() == expected.len()
                && probes.iter().zip(expected).all(|(l, e)| l.starts_with(e)),
            &format!("probes in order {expected:?}, got {probes:?}"),
            &out,
        )?;
        check(
            stdout.contains(
                "first differing release: stable-10978 (last the same as stable-10741: stable-10888), after 3 probes",
            ),
            "the first differing release",
            &out,
        )?;
        check(
            stdout.contains("differing steps (stable-10888 -> stable-10978):\n  step 1 `join alice`:\n    alice: owner/moderator -> "),
            "the differing step side by side",
            &out,
        )?;
        check(
            stdout.contains(
                "compare: https://github.com/jitsi/docker-jitsi-meet/compare/stable-10888...stable-10978",
            ),
            "the compare URL",
            &out,
        )?;
        // Only the stacks it needs, one per probe; stable-11031 was never started.
        let starts: Vec<&str> = stderr
            .lines()
            .filter(|l| l.ends_with("] starting stack"))
            .collect();
        check(
            starts.len() == 3 && !starts.iter().any(|l| l.contains("stable-11031")),
            &format!("one stack start per probe, none of stable-11031: {starts:?}"),
            &out,
        )?;
        Ok(())
    })
}

fn same_on_both_ends() -> Result<(), Failed> {
    let (tmp, scenarios) = scenarios("bisect-same")?;
    let artifacts = support::artifacts("bisect-same");
    with_tags(None, |prefix| {
        let (out, pid) = bisect_child(
            &scenarios,
            tmp.path(),
            &[
                "--good",
                RELEASES[1],
                "--bad",
                RELEASES[2],
                "--scenario",
                "bisect_probe",
                "--registry",
                prefix,
                "--artifacts",
                &artifacts.to_string_lossy(),
            ],
        )?;
        nothing_left(&out, &pid)?;
        let stderr = text(&out.stderr);
        check(
            out.status.code() == Some(2),
            "nothing to bisect is exit 2",
            &out,
        )?;
        check(
            stderr.contains("nothing to bisect: the timeline of bisect_probe jwt-auto-owner on stable-10978 is the same as on stable-10888 (after 2 probes)"),
            "the error says the ends are the same",
            &out,
        )?;
        Ok(())
    })
}

fn ctrl_c_leaves_nothing() -> Result<(), Failed> {
    let (tmp, scenarios) = scenarios("bisect-ctrl-c")?;
    let artifacts = support::artifacts("bisect-ctrl-c");
    with_tags(None, |prefix| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
            .arg("--scenarios")
            .arg(&scenarios)
            .args(["bisect", "--good", RELEASES[0], "--bad", RELEASES[3]])
            .args(["--scenario", "bisect_probe", "--registry", prefix])
            .arg("--artifacts")
            .arg(&artifacts)
            .env("XDG_CACHE_HOME", tmp.path())
            .env_remove("JITSI_HARNESS_REGISTRY")
            .current_dir(support::repo_root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Failed::from(format!("cannot run jitsi-harness: {e}")))?;
        let pid = child.id().to_string();
        let rt = support::runtime();
        // Wait until the first probe's stack has containers (they carry the child's pid).
        let t0 = Instant::now();
        let up = loop {
            let (containers, _) = rt.block_on(support::labelled(LABEL_PID, &pid));
            if containers >= 2 {
                break true;
            }
            if t0.elapsed() > Duration::from_secs(120) || child.try_wait().ok().flatten().is_some()
            {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child
            .wait_with_output()
            .map_err(|e| Failed::from(format!("waiting for jitsi-harness: {e}")))?;
        check(up, "the first probe's stack never came up", &out)?;
        nothing_left(&out, &pid)?;
        check(out.status.code() == Some(130), "Ctrl-C is exit 130", &out)?;
        check(
            text(&out.stderr).contains("interrupted"),
            "it says it was interrupted",
            &out,
        )?;
        Ok(())
    })
}

/// Bad input: (trial name, arguments after `bisect`, text the error must contain).
fn bad_inputs() -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let scenario = ["--scenario", "auto_owner_hands_over"];
    let with = |tags: [&'static str; 4]| tags.into_iter().chain(scenario).collect::<Vec<_>>();
    vec![
        (
            "good_newer_than_bad_is_exit_2",
            with(["--good", "stable-11146", "--bad", "stable-11031"]),
            "--good stable-11146 is not older than --bad stable-11031",
        ),
        (
            "an_unknown_tag_names_the_nearest_known_releases",
            with(["--good", "stable-11000", "--bad", "stable-11146"]),
            "--good `stable-11000` is not a docker-jitsi-meet release; the nearest known releases are stable-10888, stable-10978, stable-11031, stable-11146",
        ),
        (
            "a_moving_tag_is_exit_2",
            with(["--good", "stable-11031", "--bad", "unstable"]),
            "--bad `unstable`: bisect needs stable release tags",
        ),
        (
            "a_malformed_tag_is_exit_2",
            with(["--good", "11031", "--bad", "stable-11146"]),
            "--good: unknown release form `11031`",
        ),
        (
            "an_unknown_scenario_is_exit_2",
            vec![
                "--good",
                "stable-11031",
                "--bad",
                "stable-11146",
                "--scenario",
                "no_such_scenario",
            ],
            "no_such_scenario",
        ),
        (
            "a_variant_the_scenario_does_not_run_under_is_exit_2",
            with(["--good", "stable-11031", "--bad", "stable-11146"])
                .into_iter()
                .chain(["--variant", "jwt-guests"])
                .collect(),
            "scenario auto_owner_hands_over does not run under variant `jwt-guests`; its variants: jwt-auto-owner",
        ),
    ]
}

fn bad_input(args: &[&str], expected: &str) -> Result<(), Failed> {
    let cache = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let out = bisect(&support::repo_root().join("scenarios"), cache.path(), args)?;
    let stderr = text(&out.stderr);
    check(out.status.code() == Some(2), "bad input is exit 2", &out)?;
    check(
        stderr.contains(expected),
        &format!("stderr names the problem: {expected}"),
        &out,
    )?;
    check(
        !stderr.contains("starting stack"),
        "no stack starts on bad input",
        &out,
    )?;
    Ok(())
}
