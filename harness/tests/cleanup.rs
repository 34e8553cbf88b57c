//! Nothing survives a run: a test that panics with a stack up, and the CLI interrupted with SIGINT or
//! SIGTERM (what Ctrl-C and nextest's timeout send), leave no container or network behind.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::labelled;

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness-test-panic-child"))
        .output()
        .expect("run the panicking child (tests/helpers/panic_child.rs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child must fail");
    assert!(stderr.contains("deliberate panic"), "{stderr}");
    let run_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RUN-ID "))
        .unwrap_or_else(|| panic!("child printed no run id:\n{stdout}\n{stderr}"))
        .trim()
        .to_owned();
    let left = support::runtime().block_on(labelled(harness::stack::docker::LABEL_RUN, &run_id));
    assert_eq!(
        left,
        (0, 0),
        "containers and networks of run {run_id} survived the panic"
    );
}

fn interrupted_run_cleans_up(signal: i32) {
    let artifacts = support::repo_root()
        .join("target/test-artifacts")
        .join(format!("interrupt-{signal}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "auto_owner_hands_over",
            "--settle-ms",
            "5000",
        ])
        .arg("--artifacts")
        .arg(&artifacts)
        .current_dir(support::repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jitsi-harness");
    let pid = child.id().to_string();
    let rt = support::runtime();
    // Wait until the run's stack is up (its containers carry our child's pid).
    let t0 = Instant::now();
    loop {
        let (containers, _) = rt.block_on(labelled(harness::stack::docker::LABEL_PID, &pid));
        if containers == 2 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run's stack never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "jitsi-harness did not exit after the signal"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        status.code(),
        Some(130),
        "exit code after signal {signal}:\n{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = rt.block_on(labelled(harness::stack::docker::LABEL_PID, &pid));
    assert_eq!(
        left,
        (0, 0),
        "containers/networks survived signal {signal}:\n{stderr}"
    );
}

#[test]
fn ctrl_c_leaves_no_container() {
    interrupted_run_cleans_up(libc::SIGINT);
}

#[test]
fn sigterm_leaves_no_container() {
    interrupted_run_cleans_up(libc::SIGTERM);
}
