//! Nothing survives a run: a test that panics with a stack up, and the CLI interrupted with SIGINT or
//! SIGTERM (what Ctrl-C and nextest's timeout send), leave no container or network behind; the CLI
//! SIGKILLed in the middle of a browser scenario leaves chromedriver, Chromium and their temp folders,
//! which `jitsi-harness clean` then removes with its containers and network.

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

/// The browser folders (in `tmp`) whose marker names `pid` as owner.
fn browser_folders_of(
    tmp: &std::path::Path,
    pid: u32,
) -> Vec<(
    std::path::PathBuf,
    harness::participant::browser::leftovers::Owner,
)> {
    use harness::participant::browser::leftovers::read_marker;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|dir| read_marker(&dir).map(|owner| (dir, owner)))
        .filter(|(_, owner)| owner.pid == pid)
        .collect()
}

/// Kills, when dropped, whatever of `0` still runs: a failing test leaves no browser behind.
struct KillOnDrop(Vec<harness::process::ProcessInfo>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for p in self.0.iter().filter(|p| p.is_alive()) {
            // SAFETY: a process this test's child started, same pid and start time.
            unsafe { libc::kill(p.pid as i32, libc::SIGKILL) };
        }
    }
}

type Folders = Vec<(
    std::path::PathBuf,
    harness::participant::browser::leftovers::Owner,
)>;

/// Starts `jitsi-harness run` of a browser scenario with its temp folder in `tmp`; returns once its
/// Chromium runs, with the run's browser folders and every process they name.
fn browser_run(tmp: &std::path::Path, test: &str) -> (std::process::Child, Folders, KillOnDrop) {
    use harness::participant::browser::leftovers::{processes_of, PROFILE_PREFIX};
    let artifacts = support::repo_root()
        .join("target/test-artifacts")
        .join(test);
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args([
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "browser_and_bots_agree",
            "--settle-ms",
            // Long, so the run is still in the room when the test signals it; shorter than the step's
            // 10 s deadline, which `run` requires.
            "9000",
        ])
        .arg("--artifacts")
        .arg(&artifacts)
        .env("TMPDIR", tmp)
        .current_dir(support::repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jitsi-harness");
    let pid = child.id();
    let t0 = Instant::now();
    loop {
        let folders = browser_folders_of(tmp, pid);
        let chromium_up = folders.iter().any(|(dir, owner)| {
            dir.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(PROFILE_PREFIX))
                && processes_of(dir, owner.chromedriver).len() > 1
        });
        if chromium_up {
            let mut left = Vec::new();
            for (dir, owner) in &folders {
                left.extend(processes_of(dir, owner.chromedriver));
            }
            return (child, folders, KillOnDrop(left));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("jitsi-harness exited ({status}) before its browser started");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run's browser never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkill_in_a_browser_scenario_then_clean_leaves_nothing() {
    use harness::participant::browser::leftovers::processes_of;
    use harness::process::ProcessInfo;
    if let Err(e) = harness::participant::DriverOptions::from_env().check_installed() {
        eprintln!("skipped: {e}");
        return;
    }
    // A private temp folder: the run's browser folders are found there by their marker, and `clean`
    // looks there too; other Chromium on this machine is never looked at.
    let tmp = tempfile::tempdir().expect("temp folder");
    let (mut child, folders, guard) = browser_run(tmp.path(), "sigkill-browser");
    let pid = child.id();
    // SAFETY: SIGKILL to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = child.wait();
    // What the killed run left: chromedriver, Chromium, their folders, the stack.
    let left: Vec<ProcessInfo> = guard.0.iter().filter(|p| p.is_alive()).cloned().collect();
    let chromedriver = folders.iter().find_map(|(_, o)| o.chromedriver);
    assert!(
        chromedriver.is_some(),
        "no chromedriver recorded: {folders:?}"
    );
    assert!(
        left.iter()
            .any(|p| Some((p.pid, p.start_ticks)) == chromedriver),
        "chromedriver did not survive the SIGKILL: {left:?}"
    );
    assert!(
        left.len() > 2,
        "Chromium did not survive the SIGKILL: {left:?}"
    );
    let rt = support::runtime();
    let pid_label = pid.to_string();
    let (containers, _) = rt.block_on(labelled(harness::stack::docker::LABEL_PID, &pid_label));
    assert!(containers > 0, "the killed run's stack is gone already");

    let clean = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .arg("clean")
        .env("TMPDIR", tmp.path())
        .current_dir(support::repo_root())
        .output()
        .expect("run jitsi-harness clean");
    let stdout = String::from_utf8_lossy(&clean.stdout);
    let stderr = String::from_utf8_lossy(&clean.stderr);
    assert!(clean.status.success(), "clean failed:\n{stdout}\n{stderr}");

    let alive: Vec<&ProcessInfo> = left.iter().filter(|p| p.is_alive()).collect();
    assert!(alive.is_empty(), "survived `clean`: {alive:?}\n{stdout}");
    for (dir, owner) in &folders {
        assert!(
            !dir.exists(),
            "{} survived `clean`\n{stdout}",
            dir.display()
        );
        let found = processes_of(dir, owner.chromedriver);
        assert!(
            found.is_empty(),
            "processes of {} survived: {found:?}",
            dir.display()
        );
    }
    assert!(
        browser_folders_of(tmp.path(), pid).is_empty(),
        "a browser folder of the run survived `clean`"
    );
    let left = rt.block_on(labelled(harness::stack::docker::LABEL_PID, &pid_label));
    assert_eq!(
        left,
        (0, 0),
        "containers/networks survived `clean`:\n{stdout}"
    );
}

/// Ctrl-C (once, or twice: the forced exit) in a browser scenario: when the process has exited 130,
/// no chromedriver or Chromium of the run is alive any more (checked at once, no grace) and its browser
/// folders are gone.
fn ctrl_c_in_a_browser_scenario(times: usize) {
    if let Err(e) = harness::participant::DriverOptions::from_env().check_installed() {
        eprintln!("skipped: {e}");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp folder");
    let (mut child, folders, guard) = browser_run(tmp.path(), &format!("sigint-browser-{times}"));
    for _ in 0..times {
        // SAFETY: SIGINT to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "jitsi-harness did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let alive: Vec<_> = guard.0.iter().filter(|p| p.is_alive()).cloned().collect();
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        alive.is_empty(),
        "alive when it exited: {alive:?}\n{stderr}"
    );
    for (dir, _) in &folders {
        assert!(!dir.exists(), "{} survived the exit", dir.display());
    }
}

#[test]
fn ctrl_c_in_a_browser_scenario_leaves_no_chromium_at_exit() {
    ctrl_c_in_a_browser_scenario(1);
}

#[test]
fn double_ctrl_c_in_a_browser_scenario_leaves_no_chromium_at_exit() {
    ctrl_c_in_a_browser_scenario(2);
}
