//! README promises the other test files do not cover, each proven through the `jitsi-harness` binary (or
//! the library where the promise is about the stack): `list` (text and JSON); a run's text verdict
//! matrix, exit 1 for a new timeline, `.snap.new` and `--accept` writing goldens that insta reads
//! (`cargo insta review`), exit 0 once they match; one stack per stack × variant shared by scenarios;
//! the `disconnect` and `wait` steps; artifacts removed on success and kept otherwise; exit 3 for a
//! participant that failed; a second Ctrl-C; the external backend end to end. The promise → test table
//! is in ARCHITECTURE.md ("What the tests prove").
//!
//! Every child runs in a temp directory with a clean environment (`PATH`, `HOME`, `DOCKER_HOST` and what
//! the test sets), so neither the developer's variables nor the repository's own folders leak in.
//! Needs Docker and the fixture images (`just images`), except `list`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::labelled;

/// `jitsi-harness` with a clean environment, in `dir`.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"));
    c.args(args).current_dir(dir).env_clear();
    for keep in ["PATH", "HOME", "DOCKER_HOST"] {
        if let Some(v) = std::env::var_os(keep) {
            c.env(keep, v);
        }
    }
    c.envs(env.iter().copied());
    c
}

fn cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out: Output = command(dir, args, env).output().expect("run jitsi-harness");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of a `.snap` (or `.snap.new`) as insta reads it.
fn insta_text(path: &Path) -> String {
    let snapshot = insta::Snapshot::from_file(path)
        .unwrap_or_else(|e| panic!("insta cannot read {}: {e}", path.display()));
    match snapshot.contents() {
        insta::internals::SnapshotContents::Text(text) => text.to_string(),
        other => panic!("{}: not a text snapshot: {other:?}", path.display()),
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("jh-readme-")
        .tempdir()
        .expect("temp dir")
}

/// `dir/scenarios/` with the repository's variants and `files` (name, TOML).
fn scenarios(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let s = dir.join("scenarios");
    std::fs::create_dir_all(&s).expect("scenarios dir");
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        s.join("variants.toml"),
    )
    .expect("copy variants.toml");
    for (name, text) in files {
        std::fs::write(s.join(format!("{name}.toml")), text).expect("write scenario");
    }
    s
}

/// The `run-*` folders under an artifacts root.
fn runs(artifacts: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(artifacts) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
        })
        .collect();
    v.sort();
    v
}

/// Every file name under `dir`, recursively.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p.file_name() {
                out.push(n.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// `disconnect` and `wait` steps under auto-owner: the one left takes over once the owner's socket drops.
const DROPS: &str = r#"description = "The owner's connection drops; the one left becomes moderator."
variants = ["jwt-auto-owner"]

[participants]
alice = {}
bob = {}

[[step]]
join = ["alice"]
moderators = ["alice"]

[[step]]
join = ["bob"]
moderators = ["alice"]

[[step]]
wait = "1s"
moderators = ["alice"]

[[step]]
disconnect = "alice"
moderators = ["bob"]
"#;

const ALONE: &str = r#"description = "The first joiner under auto-owner is moderator."
variants = ["jwt-auto-owner"]

[participants]
carol = {}

[[step]]
join = ["carol"]
moderators = ["carol"]
"#;

#[test]
fn list_prints_scenarios_and_variants_as_text_and_json() {
    let dir = temp();
    let s = scenarios(dir.path(), &[("drops", DROPS), ("alone", ALONE)]);
    let s = s.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = cli(dir.path(), &["list", "--scenarios", s], &[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let (listed, defined) = stdout
        .split_once("\nvariants:\n")
        .unwrap_or_else(|| panic!("no variants section:\n{stdout}"));
    let rows: Vec<&str> = listed
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .collect();
    assert_eq!(
        rows,
        [
            "alone  [jwt-auto-owner]  1 steps",
            "drops  [jwt-auto-owner]  4 steps"
        ],
        "{stdout}"
    );
    assert!(
        listed.contains("    The owner's connection drops"),
        "{stdout}"
    );
    let variants: Vec<&str> = defined
        .lines()
        .filter_map(|l| l.trim_start().split_once(':').map(|(v, _)| v))
        .collect();
    assert_eq!(
        variants,
        [
            "internal-guests",
            "jwt-allow-empty",
            "jwt-allow-empty-guests",
            "jwt-auto-owner",
            "jwt-auto-owner-strict",
            "jwt-guests",
            "jwt-guests-lobby",
            "jwt-guests-wait-for-host",
            "jwt-guests-wait-for-host-fixed",
            "jwt-jicofo-auth",
            "jwt-jicofo-auth-token-affiliation",
            "jwt-lobby",
            "jwt-no-auto-owner",
            "jwt-token-affiliation"
        ],
        "{stdout}"
    );

    let (code, stdout, stderr) = cli(
        dir.path(),
        &["list", "--scenarios", s, "--format", "json"],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let listed: Vec<(&str, &serde_json::Value)> = doc["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| (s["scenario"].as_str().unwrap_or(""), &s["variants"]))
        .collect();
    assert_eq!(
        listed,
        [
            ("alone", &serde_json::json!(["jwt-auto-owner"])),
            ("drops", &serde_json::json!(["jwt-auto-owner"]))
        ],
        "{stdout}"
    );
}

/// New timelines: exit 1, a matrix row `new` each, `.snap.new` files insta reads, artifacts kept, one stack
/// for both scenarios. `--accept` writes goldens insta reads. Then exit 0, `same`, artifacts removed.
#[test]
fn new_then_accepted_then_same_with_one_shared_stack() {
    let dir = temp();
    let s = scenarios(dir.path(), &[("drops", DROPS), ("alone", ALONE)]);
    let snaps = dir.path().join("snapshots");
    let artifacts = dir.path().join("artifacts");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "run",
            "--stack",
            "fixture:13",
            "--scenarios",
            s.to_str().unwrap_or_default(),
            "--snapshots",
            snaps.to_str().unwrap_or_default(),
            "--artifacts",
            artifacts.to_str().unwrap_or_default(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        cli(dir.path(), &a, &[])
    };

    // 1. New: exit 1, the matrix says so, the pending snapshots are insta's, artifacts kept.
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let header = stdout
        .lines()
        .find(|l| l.starts_with("scenario "))
        .unwrap_or_else(|| panic!("no matrix header:\n{stdout}"));
    assert!(
        header.contains("variant") && header.contains("fixture:13"),
        "{stdout}"
    );
    for name in ["alone", "drops"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"));
        assert!(
            row.contains("jwt-auto-owner") && row.trim_end().ends_with("new"),
            "{row}"
        );
    }
    assert!(stdout.contains("0 same, 0 changed, 2 new"), "{stdout}");
    let started = stderr
        .lines()
        .filter(|l| l.contains("[fixture:13 jwt-auto-owner] starting stack"))
        .count();
    assert_eq!(started, 1, "one stack per stack × variant:\n{stderr}");
    let pending = snaps.join("fixture/drops@jwt-auto-owner.snap.new");
    let body = insta_text(&pending);
    assert!(body.contains("3. wait 1s -> moderators: alice"), "{body}");
    assert!(
        body.contains("4. disconnect alice -> moderators: bob"),
        "{body}"
    );
    let kept = runs(&artifacts);
    assert_eq!(kept.len(), 1, "artifacts kept when not all same: {kept:?}");
    let logs = files(&kept[0]);
    assert!(
        logs.iter().any(|f| f == "alice.xmpp.log"),
        "a transcript per participant: {logs:?}"
    );

    // 2. --accept: goldens written, as insta reads them, equal to what was pending.
    let (code, stdout, stderr) = run(&["--accept"]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("wrote"), "{stdout}");
    let golden = snaps.join("fixture/drops@jwt-auto-owner.snap");
    assert_eq!(insta_text(&golden), body);
    assert!(insta_text(&snaps.join("fixture/alone@jwt-auto-owner.snap")).contains("1. join carol"));

    // 3. Same: exit 0, artifacts of this run removed.
    let before = runs(&artifacts);
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 same, 0 changed, 0 new"), "{stdout}");
    for name in ["alone", "drops"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"));
        assert!(row.trim_end().ends_with("same"), "{row}");
    }
    assert_eq!(
        runs(&artifacts),
        before,
        "a run all `same` leaves no artifacts"
    );
}

/// A participant that cannot start (no browser here) is an infrastructure failure: exit 3, the matrix
/// says `failed`, the artifacts are kept.
#[test]
fn a_participant_failure_is_exit_3_and_keeps_artifacts() {
    let dir = temp();
    let s = scenarios(
        dir.path(),
        &[(
            "browser_alone",
            "description = \"A browser joins.\"\nvariants = [\"jwt-auto-owner\"]\n\n[participants]\ndave = { transport = \"browser\" }\n\n[[step]]\njoin = [\"dave\"]\nmoderators = [\"dave\"]\n",
        )],
    );
    let artifacts = dir.path().join("artifacts");
    let (code, stdout, stderr) = cli(
        dir.path(),
        &[
            "run",
            "--stack",
            "fixture:13",
            "--scenarios",
            s.to_str().unwrap_or_default(),
            "--artifacts",
            artifacts.to_str().unwrap_or_default(),
        ],
        &[("JITSI_HARNESS_CHROMIUM", "/nonexistent/chromium")],
    );
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 same, 0 changed, 0 new"), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(
        format!("{stdout}{stderr}").contains("/nonexistent/chromium"),
        "the failure names what is missing:\n{stdout}\n{stderr}"
    );
    assert_eq!(runs(&artifacts).len(), 1, "artifacts kept on failure");
}

fn spawn_long_run(dir: &Path) -> Child {
    let s = scenarios(dir, &[("drops", DROPS)]);
    command(
        dir,
        &[
            "run",
            "--stack",
            "fixture:13",
            "--settle-ms",
            "9000", // long, yet shorter than the 10 s step deadline `run` requires
            "--scenarios",
            s.to_str().unwrap_or_default(),
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start jitsi-harness")
}

/// A second Ctrl-C removes everything at once: exit 130, nothing left, well before a normal close.
#[test]
fn a_second_ctrl_c_removes_everything_at_once() {
    let dir = temp();
    let mut child = spawn_long_run(dir.path());
    let pid = child.id().to_string();
    let rt = support::runtime();
    let t0 = Instant::now();
    while rt
        .block_on(labelled(harness::stack::docker::LABEL_PID, &pid))
        .0
        < 2
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run's stack never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signals to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "jitsi-harness did not exit after the second Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Ctrl-C again"),
        "the first Ctrl-C says so:\n{stderr}"
    );
    assert!(
        stderr.contains("network(s) of this run"),
        "the second Ctrl-C removed the run's containers itself:\n{stderr}"
    );
    assert_eq!(
        rt.block_on(labelled(harness::stack::docker::LABEL_PID, &pid)),
        (0, 0),
        "containers/networks survived the second Ctrl-C:\n{stderr}"
    );
}

/// `external:NAME`: a running fixture stack described as an external deployment in a temp folder
/// (`JITSI_HARNESS_EXTERNAL`, the secret in the env variable the file names). The CLI runs a scenario on
/// it without starting a container and writes an `external` snapshot.
#[test]
fn the_external_backend_runs_a_scenario_end_to_end() {
    let dir = temp();
    let rt = support::runtime();
    let stack = rt.block_on(support::start(
        "13",
        &support::variant("jwt-auto-owner"),
        "readme-external",
    ));
    let ep = stack.endpoints().clone();
    let harness::token::SigningKey::Hs256(secret) = &ep.signing else {
        panic!("the fixture signs with HS256");
    };
    let deployments = dir.path().join("deployments");
    std::fs::create_dir_all(&deployments).expect("deployments dir");
    std::fs::write(
        deployments.join("fx.toml"),
        format!(
            "description = \"a fixture stack, as if it were staging\"\nvariants = [\"jwt-auto-owner\"]\nwebsocket = \"{}\"\nbosh = \"{}\"\n\n[domains]\ndomain = \"{}\"\nmuc = \"{}\"\nfocus = \"{}\"\n\n[token]\nalgorithm = \"HS256\"\napp_id = \"{}\"\nsecret_env = \"FX_JWT_SECRET\"\n",
            ep.websocket, ep.bosh, ep.domain, ep.muc_domain, ep.focus_domain, ep.app_id
        ),
    )
    .expect("write the deployment file");
    // A scenario of a variant the deployment does not declare is skipped with the reason, not failed.
    let other = DROPS.replace(
        "variants = [\"jwt-auto-owner\"]",
        "variants = [\"jwt-jicofo-auth\"]",
    );
    let s = scenarios(
        dir.path(),
        &[("drops", DROPS), ("drops_jicofo_auth", &other)],
    );
    let snaps = dir.path().join("snapshots");
    let (code, stdout, stderr) = cli(
        dir.path(),
        &[
            "run",
            "--stack",
            "external:fx",
            "--accept",
            "--scenarios",
            s.to_str().unwrap_or_default(),
            "--snapshots",
            snaps.to_str().unwrap_or_default(),
            "--artifacts",
            dir.path().join("artifacts").to_str().unwrap_or_default(),
        ],
        &[
            (
                "JITSI_HARNESS_EXTERNAL",
                deployments.to_str().unwrap_or_default(),
            ),
            ("FX_JWT_SECRET", secret.expose()),
        ],
    );
    let containers = rt.block_on(labelled(
        harness::stack::docker::LABEL_RUN,
        harness::stack::docker::run_id(),
    ));
    let closed = rt.block_on(stack.close());
    assert_eq!(code, Some(1), "new timeline:\n{stdout}\n{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains(secret.expose()),
        "the secret never reaches the output"
    );
    let golden = snaps.join("external/drops@jwt-auto-owner.snap");
    assert!(
        golden.is_file(),
        "no external golden {}:\n{stdout}",
        golden.display()
    );
    let body = insta_text(&golden);
    assert!(
        body.contains("4. disconnect alice -> moderators: bob"),
        "{body}"
    );
    assert_eq!(containers, (2, 1), "only the test's own fixture stack ran");
    assert!(
        stdout.contains(&format!(
            "skipped: external:fx is configured as jwt-auto-owner ({}), not as `jwt-jicofo-auth`",
            deployments.join("fx.toml").display()
        )) && stdout.contains("1 skipped"),
        "the undeclared variant's scenario is skipped with the reason:\n{stdout}"
    );
    assert!(!snaps
        .join("external/drops_jicofo_auth@jwt-jicofo-auth.snap")
        .exists());
    closed.expect("close the fixture stack");
}
