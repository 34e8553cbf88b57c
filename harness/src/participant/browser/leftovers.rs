//! Browser processes and temp folders that outlive their run (a SIGKILL, a double Ctrl-C): found by a
//! marker, never by process name, and removed by `jitsi-harness clean` and at the start of the next run.
//!
//! Every folder the harness makes for a browser — a Chromium user-data-dir (`jitsi-harness-chromium-*`)
//! and chromedriver's output folder (`jitsi-harness-chromedriver-*`), both in the system temp folder —
//! holds a marker file, [`MARKER`], naming its owner: run id, pid, the pid's start time, pid namespace,
//! creation time, and the chromedriver's pid and start time. A Chromium process belongs to a folder when
//! its command line names the folder (every Chromium process — browser, zygotes, renderers, utilities —
//! carries `--user-data-dir=…`), or descends from one that does; chromedriver belongs to it by pid and
//! start time. An owner is dead by the container sweep's rules (`crate::stack::docker`): its pid is gone
//! or reused (checked only from the same pid namespace), or the marker is older than a day.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::process::{all_processes, descendant_processes, process_info, ProcessInfo};
use crate::stack::docker;

/// The marker file in each browser folder.
pub const MARKER: &str = "jitsi-harness.owner";
/// Prefix of every Chromium user-data-dir (in the system temp folder).
pub const PROFILE_PREFIX: &str = "jitsi-harness-chromium-";
/// Prefix of every chromedriver output folder (in the system temp folder).
pub const CHROMEDRIVER_PREFIX: &str = "jitsi-harness-chromedriver-";

/// How long a kill may take to show (processes gone) before we give up on it.
const KILL_DEADLINE: Duration = Duration::from_secs(3);

/// Who made a browser folder, as its [`MARKER`] says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owning process's run id (`crate::stack::docker::run_id`).
    pub run_id: String,
    /// The owning process.
    pub pid: u32,
    /// Its start time in clock ticks after boot (tells it from a later process with its pid).
    pub pid_start_ticks: u64,
    /// Host name and pid namespace of that pid.
    pub pidns: String,
    /// Unix seconds when the folder was made.
    pub created: u64,
    /// The chromedriver serving the folder's browser: pid and start ticks.
    pub chromedriver: Option<(u32, u64)>,
}

impl Owner {
    /// This process, with `chromedriver`.
    fn me(chromedriver: Option<&ProcessInfo>) -> Owner {
        let pid = std::process::id();
        Owner {
            run_id: docker::run_id().to_owned(),
            pid,
            pid_start_ticks: process_info(pid).map(|p| p.start_ticks).unwrap_or(0),
            pidns: docker::pid_namespace().to_owned(),
            created: unix_now(),
            chromedriver: chromedriver.map(|p| (p.pid, p.start_ticks)),
        }
    }

    /// Whether this is the current process.
    fn is_me(&self) -> bool {
        self.pid == std::process::id() && self.run_id == docker::run_id()
    }

    /// Whether the owner is gone (same pid namespace: pid gone or reused) or the marker is over a day old.
    pub fn is_dead(&self) -> bool {
        if self.is_me() {
            return false;
        }
        let pid_gone = self.pidns == docker::pid_namespace()
            && process_info(self.pid).is_none_or(|p| p.start_ticks != self.pid_start_ticks);
        let too_old = unix_now().saturating_sub(self.created) > docker::MAX_AGE.as_secs();
        pid_gone || too_old
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Folders this process made, so that its own browsers can be killed at once on an interruption even
/// after a folder was removed (a Chromium still exiting keeps its command line).
static MINE: Mutex<Vec<Mine>> = Mutex::new(Vec::new());

/// One folder of this process and its chromedriver (pid, start ticks).
type Mine = (PathBuf, Option<(u32, u64)>);

/// Writes the marker into `dir` and remembers the folder as this process's.
pub(super) fn mark(dir: &Path, chromedriver: Option<&ProcessInfo>) -> std::io::Result<()> {
    let owner = Owner::me(chromedriver);
    let text = serde_json::to_string(&owner).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(MARKER), text)?;
    if let Ok(mut mine) = MINE.lock() {
        mine.push((dir.to_path_buf(), owner.chromedriver));
    }
    Ok(())
}

/// The owner a folder's marker names; `None` without a readable marker.
pub fn read_marker(dir: &Path) -> Option<Owner> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    serde_json::from_str(&text).ok()
}

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrowserSweep {
    /// Processes killed (chromedriver, Chromium).
    pub processes: Vec<u32>,
    /// Folders removed.
    pub folders: Vec<PathBuf>,
}

impl BrowserSweep {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty() && self.folders.is_empty()
    }
}

/// Every browser folder (marked or not) in `root` with one of our prefixes.
fn browser_folders(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(PROFILE_PREFIX) || name.starts_with(CHROMEDRIVER_PREFIX)
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The live processes of a folder: those whose command line names it, those that descend from them,
/// and the chromedriver recorded with it (same pid, same start time) with its descendants.
pub fn processes_of(dir: &Path, chromedriver: Option<(u32, u64)>) -> Vec<ProcessInfo> {
    let needle = dir.to_string_lossy().into_owned();
    let all = all_processes();
    let mut found: Vec<ProcessInfo> = all
        .iter()
        .filter(|p| p.cmdline.iter().any(|arg| arg.contains(&needle)))
        .cloned()
        .collect();
    if let Some((pid, ticks)) = chromedriver {
        if let Some(p) = all.iter().find(|p| p.pid == pid && p.start_ticks == ticks) {
            found.push(p.clone());
        }
    }
    let roots: Vec<u32> = found.iter().map(|p| p.pid).collect();
    for root in roots {
        for d in descendant_processes(root) {
            if !found.iter().any(|f| f.pid == d.pid) {
                found.push(d);
            }
        }
    }
    found.retain(|p| p.pid != std::process::id());
    found
}

/// SIGKILLs `processes` (each re-checked to be the same process first) and waits until they are gone,
/// at most [`KILL_DEADLINE`]. Returns the pids killed.
fn kill_all(processes: &[ProcessInfo]) -> Vec<u32> {
    let mut killed = Vec::new();
    for p in processes.iter().filter(|p| p.is_alive()) {
        // SAFETY: kill(2) on a pid we just saw alive with the same start time, found by its marker.
        let rc = unsafe { libc::kill(p.pid as libc::pid_t, libc::SIGKILL) };
        if rc == 0 {
            killed.push(p.pid);
        }
    }
    let t0 = Instant::now();
    // 5 ms between looks: SIGKILLed processes are reaped within a few of them.
    while processes.iter().any(ProcessInfo::is_alive) && t0.elapsed() < KILL_DEADLINE {
        std::thread::sleep(Duration::from_millis(5));
    }
    killed
}

fn remove_folder(dir: &Path, sweep: &mut BrowserSweep) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => sweep.folders.push(dir.to_path_buf()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove {}: {e}", dir.display()),
    }
}

/// Removes the browser processes and folders of dead runs (see the module docs) from the system temp
/// folder. Never touches a live run's, nor unmarked folders.
pub fn sweep_leftovers() -> BrowserSweep {
    sweep_leftovers_in(&std::env::temp_dir())
}

/// [`sweep_leftovers`] in `root`.
pub fn sweep_leftovers_in(root: &Path) -> BrowserSweep {
    let mut sweep = BrowserSweep::default();
    for dir in browser_folders(root) {
        let Some(owner) = read_marker(&dir) else {
            continue;
        };
        if !owner.is_dead() {
            continue;
        }
        let processes = processes_of(&dir, owner.chromedriver);
        sweep.processes.extend(kill_all(&processes));
        remove_folder(&dir, &mut sweep);
    }
    sweep.processes.sort_unstable();
    sweep.processes.dedup();
    sweep
}

/// Sweeps once per process ([`sweep_leftovers`]), logging what it removed.
pub fn sweep_once() {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        let s = sweep_leftovers();
        if !s.is_empty() {
            tracing::warn!(
                "removed browser leftovers of killed runs: processes {:?}, folders {:?}",
                s.processes,
                s.folders
            );
        }
    });
}

/// Kills every browser process this process started and removes its folders, now (synchronous; for an
/// interruption, before the process exits). Safe from any context.
pub fn kill_this_run() -> BrowserSweep {
    let mine: Vec<Mine> = MINE.lock().map(|m| m.clone()).unwrap_or_default();
    let mut processes: Vec<ProcessInfo> = Vec::new();
    for (dir, chromedriver) in &mine {
        for p in processes_of(dir, *chromedriver) {
            if !processes.iter().any(|q| q.pid == p.pid) {
                processes.push(p);
            }
        }
    }
    let mut sweep = BrowserSweep {
        processes: kill_all(&processes),
        folders: Vec::new(),
    };
    for (dir, _) in &mine {
        remove_folder(dir, &mut sweep);
    }
    sweep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(root: &Path, prefix: &str, owner: &Owner) -> PathBuf {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(root)
            .unwrap()
            .keep();
        std::fs::write(dir.join(MARKER), serde_json::to_string(owner).unwrap()).unwrap();
        dir
    }

    #[test]
    fn a_dead_owners_folder_and_processes_go_a_live_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        // A dead owner: a child that has exited.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        let _ = gone.wait();
        let dead = Owner {
            pid: gone_pid,
            pid_start_ticks: 1,
            run_id: "deadbeef".into(),
            ..Owner::me(None)
        };
        let dead_dir = marked(root.path(), PROFILE_PREFIX, &dead);
        // A process of the dead run: its command line names the folder (as Chromium's do).
        let mut orphan = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 30; : \"$0\"")
            .arg(format!("--user-data-dir={}", dead_dir.display()))
            .spawn()
            .unwrap();
        let orphan_info = process_info(orphan.id()).unwrap();
        // A live owner (this process, another run id would still be alive): left alone.
        let live = Owner {
            run_id: "livelive".into(),
            ..Owner::me(None)
        };
        let live_dir = marked(root.path(), PROFILE_PREFIX, &live);
        // Unmarked folders are not ours to judge.
        let unmarked = root.path().join(format!("{PROFILE_PREFIX}unmarked"));
        std::fs::create_dir(&unmarked).unwrap();
        // An old marker of a live pid in another namespace goes by age.
        let old = Owner {
            pidns: "elsewhere/pid:[1]".into(),
            created: 1,
            run_id: "oldoldol".into(),
            ..Owner::me(None)
        };
        let old_dir = marked(root.path(), CHROMEDRIVER_PREFIX, &old);

        let sweep = sweep_leftovers_in(root.path());
        let _ = orphan.wait();
        assert!(!orphan_info.is_alive());
        assert!(sweep.processes.contains(&orphan_info.pid), "{sweep:?}");
        assert!(!dead_dir.exists() && !old_dir.exists(), "{sweep:?}");
        assert!(live_dir.exists() && unmarked.exists(), "{sweep:?}");
        assert_eq!(sweep.folders.len(), 2);
    }

    #[test]
    fn an_owner_is_alive_only_as_the_same_process() {
        let me = Owner::me(None);
        assert!(!me.is_dead());
        let reused = Owner {
            run_id: "other000".into(),
            pid_start_ticks: me.pid_start_ticks + 1,
            ..me.clone()
        };
        assert!(reused.is_dead());
        let elsewhere = Owner {
            run_id: "other000".into(),
            pid: u32::MAX - 1,
            pidns: "elsewhere/pid:[1]".into(),
            ..me
        };
        assert!(!elsewhere.is_dead());
    }
}
