//! No secret and no full token reaches any output at any log level (ARCHITECTURE.md, "Invariants"): the
//! whole suite's scenarios run on `fixture:13` at `RUST_LOG=trace`, and stdout (the JSON report),
//! stderr (every log line), the artifacts (transcripts, container logs, page captures) and the pending
//! snapshots are searched for the stacks' secrets and for full JWTs.
//!
//! The secrets are the ones the running stacks really use: read from their containers' env through
//! Docker while the run goes on (found by the run's pid label), so no harness-only knob is needed. Full
//! tokens are found by their shape: `eyJ…` header, `.`, `eyJ…` payload, `.` (a shortened token keeps
//! only its first 6 characters).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;

/// Env keys whose values are secrets.
fn is_secret_key(key: &str) -> bool {
    ["SECRET", "PASSWORD", "PRIVATE"]
        .iter()
        .any(|k| key.to_ascii_uppercase().contains(k))
}

/// Secret env values of the containers whose pid label is `pid`, by container name and key.
async fn secrets_of_run(
    docker: &testcontainers::bollard::Docker,
    pid: &str,
    seen: &mut BTreeSet<String>,
    secrets: &mut BTreeMap<String, String>,
) {
    let filter = format!("{}={pid}", harness::stack::docker::LABEL_PID);
    let filters = std::collections::HashMap::from([("label", vec![filter.as_str()])]);
    let Ok(containers) = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
    else {
        return;
    };
    for c in containers {
        let Some(id) = c.id else { continue };
        if !seen.insert(id.clone()) {
            continue;
        }
        let Ok(inspect) = docker.inspect_container(&id, None).await else {
            continue;
        };
        let env = inspect.config.and_then(|c| c.env).unwrap_or_default();
        for entry in env {
            if let Some((key, value)) = entry.split_once('=') {
                if is_secret_key(key) && value.len() >= 8 {
                    secrets.insert(value.to_owned(), format!("{id:.12} {key}"));
                }
            }
        }
    }
}

/// Full JWTs in `text`: `eyJ…` `.` `eyJ…` `.` (the signature may be empty: `alg: none`).
fn full_tokens(text: &str) -> Vec<String> {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("eyJ") {
        let tail = &rest[at..];
        let header_end = tail.find(|c: char| !b64(c)).unwrap_or(tail.len());
        let after = &tail[header_end..];
        if let Some(payload) = after.strip_prefix(".eyJ") {
            let payload_end = payload.find(|c: char| !b64(c)).unwrap_or(payload.len());
            if payload[payload_end..].starts_with('.') {
                found.push(tail[..(header_end + 4 + payload_end + 1).min(tail.len())].to_owned());
            }
        }
        rest = &rest[at + 3..];
    }
    found
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_whole_suite_at_trace_prints_no_secret_and_no_full_token() {
    let tmp = tempfile::tempdir().expect("temp folder");
    let artifacts = tmp.path().join("artifacts");
    // An empty snapshots folder: every timeline is new, so the run keeps its artifacts and writes
    // pending snapshots — all of it searched below.
    let snapshots = tmp.path().join("snapshots");
    std::fs::create_dir_all(&snapshots).expect("snapshots folder");
    let stdout_path = tmp.path().join("stdout");
    let stderr_path = tmp.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args(["run", "--stack", "fixture:13", "--format", "json"])
        .arg("--artifacts")
        .arg(&artifacts)
        .arg("--snapshots")
        .arg(&snapshots)
        .env("RUST_LOG", "trace")
        .env_remove("CI")
        .current_dir(support::repo_root())
        .stdout(Stdio::from(
            std::fs::File::create(&stdout_path).expect("stdout file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(&stderr_path).expect("stderr file"),
        ))
        .spawn()
        .expect("start jitsi-harness");
    let pid = child.id().to_string();
    let rt = support::runtime();
    let docker = rt
        .block_on(harness::stack::docker::connect())
        .expect("docker");
    let mut seen = BTreeSet::new();
    let mut secrets = BTreeMap::new();
    let t0 = Instant::now();
    let status = loop {
        rt.block_on(secrets_of_run(&docker, &pid, &mut seen, &mut secrets));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            panic!("the run took over 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    // 1: every timeline is new (not the snapshots of the repository).
    assert_eq!(
        status.code(),
        Some(1),
        "run failed: {}",
        &stderr[stderr.len().saturating_sub(3000)..]
    );
    assert!(
        secrets.values().any(|k| k.ends_with("JWT_APP_SECRET")),
        "no JWT_APP_SECRET read from the run's containers: {seen:?}"
    );
    assert!(
        stderr.lines().count() > 1000,
        "RUST_LOG=trace printed little: is the trace level on?"
    );
    let mut outputs = vec![stdout_path, stderr_path];
    files_under(&artifacts, &mut outputs);
    files_under(&snapshots, &mut outputs);
    assert!(
        outputs
            .iter()
            .any(|p| p.to_string_lossy().contains("transcript")
                || p.extension().is_some_and(|e| e == "log")),
        "no transcript or container log among the artifacts: {outputs:?}"
    );
    let mut hits = Vec::new();
    for path in &outputs {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for (secret, source) in &secrets {
            let n = text.matches(secret.as_str()).count();
            if n > 0 {
                hits.push(format!("{}: {n}x the secret {source}", path.display()));
            }
        }
        for token in full_tokens(&text) {
            hits.push(format!(
                "{}: a full token {}…",
                path.display(),
                &token[..token.len().min(24)]
            ));
        }
    }
    hits.truncate(40);
    assert!(
        hits.is_empty(),
        "{} output file(s) searched; secrets or full tokens found:\n{}",
        outputs.len(),
        hits.join("\n")
    );
}

#[test]
fn full_tokens_are_found_by_their_shape() {
    let t = "a eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiciJ9.c2ln b eyJhbGciOiJub25lIn0.eyJ4IjoxfQ. c";
    assert_eq!(full_tokens(t).len(), 2);
    assert!(full_tokens("eyJhbG…(412 bytes) token=eyJhbG…(31 bytes)").is_empty());
}
