//! Input a hostile or unlucky user gives the command line: names that would write outside their folder,
//! numbers nobody means, an unwritable artifacts root, an unreachable Docker engine, and `--keep-stack`
//! followed by `clean --kept`. Each is bad input (exit 2) or one infrastructure message (exit 3), said
//! before any stack starts, and nothing is written where it should not be.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"));
    command.args(args).current_dir(dir).env_remove("CI");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run jitsi-harness")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = support::repo_root()
        .join("target/test-artifacts/hostile")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A scenarios folder with the repository's variants.toml and one scenario file.
fn scenarios_with(dir: &Path, file: &str, text: &str) -> PathBuf {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        scenarios.join("variants.toml"),
    )
    .unwrap();
    std::fs::write(scenarios.join(file), text).unwrap();
    scenarios
}

fn repo_scenarios() -> String {
    support::repo_root()
        .join("scenarios")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_participant_named_like_a_path_fails_check_with_file_line_col() {
    let dir = temp_dir("participant-path");
    scenarios_with(
        &dir,
        "evil.toml",
        "description = \"d\"\nvariants = [\"jwt-auto-owner\"]\n\n[participants]\n\"/tmp/x\" = { nick = \"x\" }\n\n[[step]]\njoin = [\"/tmp/x\"]\n",
    );
    let out = harness(&["check"], &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("scenarios/evil.toml:5:1"), "{err}");
    assert!(err.contains("invalid participant name"), "{err}");
}

#[test]
fn a_variant_named_like_a_path_is_bad_input_at_its_line() {
    let dir = temp_dir("variant-path");
    let scenarios = scenarios_with(&dir, "x.toml", "");
    std::fs::remove_file(scenarios.join("x.toml")).unwrap();
    std::fs::write(
        scenarios.join("variants.toml"),
        "[\"../../tmp/y\"]\ndescription = \"d\"\njwt = true\n",
    )
    .unwrap();
    let out = harness(&["check"], &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("variants.toml:1:2: invalid variant name"),
        "{err}"
    );
}

#[test]
fn a_nick_and_a_claim_nobody_means_fail_check() {
    let dir = temp_dir("limits");
    let nick = "n".repeat(5000);
    // The report's claim was 2.7 MB; 300 kB shows the same and keeps miette's rendering quick.
    let claim = "c".repeat(300_000);
    scenarios_with(
        &dir,
        "huge.toml",
        &format!(
            "description = \"d\"\nvariants = [\"jwt-auto-owner\"]\n\n[participants]\nalice = {{ nick = \"{nick}\" }}\nbob = {{ token = {{ claims = {{ big = \"{claim}\" }} }} }}\n\n[[step]]\njoin = [\"alice\"]\nwait = \"1000h\"\n"
        ),
    );
    let out = harness(&["check"], &dir, &[]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &err[..err.len().min(4000)]
    );
    for needle in [
        "scenarios/huge.toml:5:18",
        "5000 bytes, more than 1023",
        "scenarios/huge.toml:6:9",
        "are 300103 bytes",
        "`wait` of 1000h",
    ] {
        assert!(
            err.contains(needle),
            "{needle} missing: {}",
            &err[..err.len().min(4000)]
        );
    }
}

#[test]
fn numbers_nobody_means_are_bad_input_not_a_panic() {
    let dir = temp_dir("numbers");
    let scenarios = repo_scenarios();
    for args in [
        vec!["--startup-timeout", "18446744073709551615"],
        vec!["--startup-timeout", "0"],
        vec!["--settle-ms", "18446744073709551615"],
    ] {
        let mut all = vec!["--scenarios", scenarios.as_str(), "run"];
        all.extend(args.iter().copied());
        let out = harness(&all, &dir, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("not in"), "{args:?}: {err}");
    }
    // A settle as long as a step's deadline (10 s by default) could never settle.
    let out = harness(
        &[
            "--scenarios",
            &scenarios,
            "run",
            "--settle-ms",
            "10000",
            "--stack",
            "external:nothing",
        ],
        &dir,
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not shorter than the 10000 ms deadline"),
        "{err}"
    );
    assert!(!dir.join("artifacts").exists());
}

#[test]
fn an_external_name_that_leaves_its_folder_is_bad_input() {
    let dir = temp_dir("external-path");
    let out = harness(
        &[
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "external:../../etc/passwd",
        ],
        &dir,
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid stack `external:../../etc/passwd`"),
        "{err}"
    );
    assert!(!dir.join("artifacts").exists());
    // A well-formed name without its file is bad input too, not a stack that failed to start.
    let out = harness(
        &[
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "external:nothing",
        ],
        &dir,
        &[("JITSI_HARNESS_EXTERNAL", dir.to_str().unwrap())],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no deployment file") && err.contains("nothing.toml"),
        "{err}"
    );
}

#[test]
fn an_unwritable_artifacts_root_is_bad_input_before_anything_starts() {
    let dir = temp_dir("artifacts-unwritable");
    let out = harness(
        &[
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "external:nothing",
            "--artifacts",
            "/proc/forbidden",
        ],
        &dir,
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write artifacts under /proc/forbidden"),
        "{err}"
    );
}

#[test]
fn an_unreachable_docker_engine_is_one_message_and_no_artifacts_folder() {
    let dir = temp_dir("docker-unreachable");
    let out = harness(
        &["--scenarios", &repo_scenarios(), "run"],
        &dir,
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        &[("DOCKER_HOST", "tcp://127.0.0.1:1")],
    );
    let err = stderr(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(
        err.matches("cannot reach the Docker engine").count(),
        1,
        "{err}"
    );
    assert!(
        !stdout.contains("FAILED") && !err.contains("FAILED"),
        "{stdout}{err}"
    );
    assert!(
        !dir.join("artifacts").exists(),
        "an artifacts folder was left"
    );
}

/// `docker … ls -q` with the given label filters: how many there are.
fn docker_count(kind: &str, labels: &[String]) -> usize {
    let mut command = Command::new("docker");
    command.args([kind, "ls", "-q"]);
    if kind == "container" {
        command.arg("-a");
    }
    for l in labels {
        command.args(["--filter", &format!("label={l}")]);
    }
    let out = command.output().expect("docker CLI");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Runs one scenario on the fixture with `--keep-stack`, then `clean --kept`: the kept stack's containers
/// and network carry the keep label, the "kept" message prints once and names the network, and
/// `clean --kept` removes everything of that run. Needs Docker and the fixture image for Prosody 13.
#[test]
fn keep_stack_then_clean_kept_removes_everything() {
    let image = Command::new("docker")
        .args(["image", "inspect", "jitsi-harness/fixture-prosody:13"])
        .output();
    if !image.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: jitsi-harness/fixture-prosody:13 is not built here");
        return;
    }
    let dir = temp_dir("keep-stack");
    let out = harness(
        &[
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "last_moderator_leaves_empty_room",
            "--keep-stack",
            "--artifacts",
            "artifacts",
        ],
        &dir,
        &[],
    );
    let err = stderr(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    assert_eq!(err.matches("kept fixture:13").count(), 1, "{err}");
    assert!(!err.contains("network rm ?"), "{err}");
    // The run id, from the message: `… --filter label=jitsi-harness.run-id=<id>) && …`.
    let run_id = err
        .split("jitsi-harness.run-id=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no run id in: {err}"))
        .to_owned();
    let of_run = format!("jitsi-harness.run-id={run_id}");
    let kept = "jitsi-harness.keep".to_owned();
    let containers = docker_count("container", std::slice::from_ref(&of_run));
    let networks = docker_count("network", std::slice::from_ref(&of_run));
    assert!(
        containers >= 2 && networks >= 1,
        "{containers} containers, {networks} networks"
    );
    assert_eq!(
        docker_count("container", &[of_run.clone(), kept.clone()]),
        containers
    );
    assert_eq!(
        docker_count("network", &[of_run.clone(), kept.clone()]),
        networks,
        "the kept network lacks the keep label"
    );

    let clean = harness(&["clean", "--kept"], &dir, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert_eq!(docker_count("container", std::slice::from_ref(&of_run)), 0);
    assert_eq!(docker_count("network", std::slice::from_ref(&of_run)), 0);
}

/// Whether the fixture image for Prosody 13 is built here (the tests below need it and Docker).
fn fixture_13_built() -> bool {
    let image = Command::new("docker")
        .args(["image", "inspect", "jitsi-harness/fixture-prosody:13"])
        .output();
    image.is_ok_and(|o| o.status.success())
}

/// Reproducing by hand: `--keep-stack` prints each scenario's room, its WebSocket and web URLs and the
/// `token` command for it; that command prints a token (stdout only) whose claims name the room and the
/// kept stack's issuer and domain, and nothing secret reaches stderr. Then `clean --kept`.
#[test]
fn keep_stack_prints_each_room_and_the_token_command_mints_for_it() {
    if !fixture_13_built() {
        eprintln!("skipped: jitsi-harness/fixture-prosody:13 is not built here");
        return;
    }
    let dir = temp_dir("keep-stack-token");
    let out = harness(
        &[
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "moderator_false_string_under_jicofo_auth",
            "--keep-stack",
            "--artifacts",
            "artifacts",
        ],
        &dir,
        &[],
    );
    let err = stderr(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("kept moderator_false_string_under_jicofo_auth (jwt-jicofo-auth) on fixture:13: room "))
        .unwrap_or_else(|| panic!("no room line in: {err}"));
    let room = line
        .split("room ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_default()
        .to_owned();
    assert!(room.starts_with("moderator-false-string"), "{line}");
    assert!(
        line.contains(&format!("?room={room}")) && line.contains("web http://127.0.0.1:"),
        "{line}"
    );
    let command = format!("jitsi-harness token --stack fixture:13 --variant jwt-jicofo-auth --room {room} --name NAME");
    assert!(line.contains(&command), "{line}");

    let token = harness(
        &[
            "token",
            "--stack",
            "fixture:13",
            "--variant",
            "jwt-jicofo-auth",
            "--room",
            &room,
            "--name",
            "visitor",
        ],
        &dir,
        &[],
    );
    let printed = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    assert_eq!(token.status.code(), Some(0), "{}", stderr(&token));
    let parts: Vec<&str> = printed.split('.').collect();
    assert_eq!(parts.len(), 3, "{printed}");
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("base64url claims"),
    )
    .expect("JSON claims");
    assert_eq!(claims["room"], room.as_str());
    assert_eq!(claims["iss"], "jitsi-harness");
    assert_eq!(claims["sub"], "meet.jitsi");
    assert_eq!(claims["context"]["user"]["name"], "visitor");
    assert!(
        !stderr(&token).contains(parts[2]),
        "the signature reached stderr"
    );

    let clean = harness(&["clean", "--kept"], &dir, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let again = harness(
        &[
            "token",
            "--stack",
            "fixture:13",
            "--variant",
            "jwt-jicofo-auth",
            "--room",
            &room,
            "--name",
            "visitor",
        ],
        &dir,
        &[],
    );
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("no stack kept by `--keep-stack`"),
        "{}",
        stderr(&again)
    );
}

/// `--hold` keeps the last step's participants connected until Ctrl-C: the run says who it holds and
/// where, waits, and on SIGINT exits 130 with nothing of its run left.
#[test]
fn hold_keeps_the_participants_until_ctrl_c() {
    use std::io::{BufRead, BufReader};
    if !fixture_13_built() {
        eprintln!("skipped: jitsi-harness/fixture-prosody:13 is not built here");
        return;
    }
    let dir = temp_dir("hold");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "--scenarios",
            &repo_scenarios(),
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "moderator_false_string_under_jicofo_auth",
            "--hold",
            "--artifacts",
            "artifacts",
        ])
        .current_dir(&dir)
        .env_remove("CI")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run jitsi-harness");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let holding = loop {
        match lines.next() {
            Some(Ok(line)) => {
                seen.push(line.clone());
                if line.contains("holding ") {
                    break line;
                }
            }
            _ => panic!("the run ended without holding: {seen:#?}"),
        }
    };
    assert!(
        holding.contains("holding bob in room moderator-false-string"),
        "{holding}"
    );
    assert!(holding.contains("until Ctrl-C"), "{holding}");
    // Still holding a while later: it waits for the signal, not for a deadline.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the run ended on its own"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{rest:#?}");
    let run_id = rest
        .iter()
        .chain(&seen)
        .find_map(|l| l.split("/run-").nth(1))
        .and_then(|r| r.split('-').nth(1))
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no artifacts folder named in {rest:#?}"));
    let of_run = format!("jitsi-harness.run-id={run_id}");
    assert_eq!(docker_count("container", std::slice::from_ref(&of_run)), 0);
    assert_eq!(docker_count("network", std::slice::from_ref(&of_run)), 0);
}
