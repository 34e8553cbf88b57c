//! Processes on this machine, read from Linux `/proc` through the `procfs` crate: who started whom and
//! when, with which command line, how much memory and CPU each holds. The browser participant uses it
//! to stop chromedriver and anything Chromium leaves behind, and to find the browsers of killed runs
//! by the folder their command line names (`participant::browser::leftovers`); the browser tests
//! check with it that nothing survives; the bench measures memory and samples Prosody's CPU with it;
//! container labels name this process's pid namespace with it.
//!
//! Field meanings are proc(5)'s: `/proc/PID/stat`, `/proc/PID/status`, `/proc/PID/smaps_rollup`.

use procfs::process::Process;

/// One live process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent's process id (1 for daemons and orphans).
    pub ppid: u32,
    /// The kernel's short name (`chromium`, `chromedriver`, …).
    pub comm: String,
    /// The command line, one argument an entry; empty for kernel threads and when not ours to read.
    pub cmdline: Vec<String>,
    /// Resident set size in KiB (`VmRSS`); 0 when unknown. Counts shared pages in every process.
    pub rss_kib: u64,
    /// Proportional set size in KiB (`Pss` of `smaps_rollup`: shared pages split among their users, so
    /// it adds up across processes); 0 when unknown or not ours to read.
    pub pss_kib: u64,
    /// Start time in clock ticks after boot (`stat` field 22): tells a process from a later one that
    /// reused its pid, and which processes started after a given one.
    pub start_ticks: u64,
    /// CPU time spent in user mode, in clock ticks (`stat` field 14).
    pub user_ticks: u64,
    /// CPU time spent in kernel mode, in clock ticks (`stat` field 15).
    pub system_ticks: u64,
}

impl ProcessInfo {
    /// Whether this very process still runs: same pid, same start time (not a later one reusing the pid).
    pub fn is_alive(&self) -> bool {
        process_info(self.pid).is_some_and(|now| now.start_ticks == self.start_ticks)
    }

    fn read(process: &Process) -> Option<ProcessInfo> {
        let stat = process.stat().ok()?;
        // A zombie (Z) or dead (X) process holds nothing but its table entry.
        if matches!(stat.state, 'Z' | 'X') {
            return None;
        }
        let rss_kib = process.status().ok().and_then(|s| s.vmrss).unwrap_or(0);
        // smaps_rollup values are in bytes (procfs `MMapExtension`); its single entry is the rollup.
        let pss_kib = process
            .smaps_rollup()
            .ok()
            .and_then(|r| {
                r.memory_map_rollup
                    .0
                    .first()
                    .and_then(|m| m.extension.map.get("Pss").copied())
            })
            .map(|bytes| bytes / 1024)
            .unwrap_or(0);
        Some(ProcessInfo {
            pid: u32::try_from(stat.pid).ok()?,
            ppid: u32::try_from(stat.ppid).unwrap_or(0),
            comm: stat.comm,
            cmdline: process.cmdline().unwrap_or_default(),
            rss_kib,
            pss_kib,
            start_ticks: stat.starttime,
            user_ticks: stat.utime,
            system_ticks: stat.stime,
        })
    }
}

/// A live process's info; `None` when it is gone (or a zombie).
pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    let pid = i32::try_from(pid).ok()?;
    ProcessInfo::read(&Process::new(pid).ok()?)
}

/// Every live process this process can see.
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(processes) = procfs::process::all_processes() else {
        return Vec::new();
    };
    processes
        .filter_map(|p| ProcessInfo::read(&p.ok()?))
        .collect()
}

/// Every live process whose parent chain reaches `root` (not `root` itself). Chromium's crash handler
/// daemonizes (its parent is init) and is not among them; it exits with the last Chromium it serves.
pub fn descendant_processes(root: u32) -> Vec<ProcessInfo> {
    let all = all_processes();
    let mut found: Vec<ProcessInfo> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            if !found.iter().any(|f| f.pid == p.pid) {
                frontier.push(p.pid);
                found.push(p.clone());
            }
        }
    }
    found
}

/// This machine's host name (`/proc/sys/kernel/hostname`); `None` when unreadable.
pub fn hostname() -> Option<String> {
    // procfs has no reader for this one file.
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
}

/// This process's pid namespace as `/proc/self/ns/pid` names it (`pid:[4026531836]`); `None` when
/// unreadable.
pub fn own_pid_namespace() -> Option<String> {
    let namespaces = Process::myself().ok()?.namespaces().ok()?;
    let pid = namespaces.0.get(std::ffi::OsStr::new("pid"))?;
    Some(format!("pid:[{}]", pid.identifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_are_read_from_proc() {
        let me = process_info(std::process::id()).expect("this process");
        assert!(me.rss_kib > 0);
        assert!(me.start_ticks > 0);
        assert!(me.is_alive());
        assert!(!me.comm.is_empty());
        assert!(!me.cmdline.is_empty());
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(all_processes().iter().any(|p| p.pid == me.pid));
        // The test process is not its own descendant.
        assert!(descendant_processes(std::process::id())
            .iter()
            .all(|p| p.pid != std::process::id()));
    }

    #[test]
    fn a_child_is_a_descendant_with_its_command_line_until_it_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pid = child.id();
        let found = descendant_processes(std::process::id());
        let sleep = found.iter().find(|p| p.pid == pid).expect("the child");
        assert_eq!(sleep.cmdline, ["sleep", "30"]);
        assert_eq!(sleep.ppid, std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(!sleep.is_alive());
    }

    #[test]
    fn the_pid_namespace_reads_as_the_link_does() {
        let link = std::fs::read_link("/proc/self/ns/pid").expect("readable");
        assert_eq!(
            own_pid_namespace().as_deref(),
            Some(link.to_string_lossy().as_ref())
        );
        assert!(hostname().is_some_and(|h| !h.is_empty()));
    }
}
