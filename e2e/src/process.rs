//! Processes by id: finding a browser's processes, signalling them and
//! reading their memory, through /proc.

use rustix::process::{kill_process, Pid, Signal};
use std::collections::BTreeSet;
use std::fs;

/// Ids of every process whose command line contains `marker`, and of all
/// their descendants (Chromium's zygote and renderers do not all repeat the
/// browser's flags, but they are its children).
pub fn pids_with_marker(marker: &str) -> BTreeSet<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let mut found = BTreeSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            continue;
        }
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            // Arguments are NUL-separated; the marker never spans two.
            if cmdline
                .split(|b| *b == 0)
                .any(|arg| String::from_utf8_lossy(arg).contains(marker))
            {
                found.insert(pid);
            }
        }
        if let Some(ppid) = parent_of(pid) {
            parents.push((pid, ppid));
        }
    }
    // Close over children until nothing new is added.
    loop {
        let before = found.len();
        for (pid, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// True while the process exists and is not a zombie waiting to be reaped.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// SIGKILLs the processes and waits (at most `bound`) until none is alive.
/// Returns the ones still alive.
pub fn kill_and_wait(pids: &BTreeSet<u32>, bound: std::time::Duration) -> BTreeSet<u32> {
    let start = std::time::Instant::now();
    loop {
        let alive: BTreeSet<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if alive.is_empty() || start.elapsed() > bound {
            return alive;
        }
        kill_all(&alive);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the fields
    // after the last ')' are state, ppid, ...
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Sends SIGKILL to each process; ones already gone are ignored.
pub fn kill_all(pids: &BTreeSet<u32>) {
    for pid in pids {
        signal(*pid, Signal::KILL);
    }
}

/// Sends `sig` to one process, ignoring a process that is already gone.
pub fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, sig);
    }
}

/// Sends SIGTERM (graceful shutdown) to one process.
pub fn terminate(pid: u32) {
    signal(pid, Signal::TERM);
}

/// Resident memory of a process in KiB (`VmRSS` in /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> crate::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS for process {pid}"))
}

/// CPU time a process (all its threads) has used so far, user and
/// system, in seconds (`utime + stime` in /proc/<pid>/stat, in ticks of
/// 1/100 s: `USER_HZ` is 100 on Linux).
pub fn cpu_seconds(pid: u32) -> crate::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // After the command name: state is field 3, utime 14, stime 15.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| format!("/proc/{pid}/stat: no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => Ok((u + s) as f64 / 100.0),
        _ => Err(format!("/proc/{pid}/stat: no utime and stime")),
    }
}

/// UDP datagrams the kernel dropped so far, machine-wide, because a
/// socket's receive buffer was full (`RcvbufErrors` in /proc/net/snmp).
pub fn udp_rcvbuf_errors() -> crate::Result<u64> {
    let snmp = fs::read_to_string("/proc/net/snmp").map_err(|e| format!("/proc/net/snmp: {e}"))?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next().unwrap_or(""), udp.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| "/proc/net/snmp: no Udp RcvbufErrors".to_string())
}

/// Raises this process's open-file limit to `want` (or the hard limit if
/// lower); children inherit it. Returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let current = getrlimit(Resource::Nofile);
    let target = match current.maximum {
        Some(max) => want.min(max),
        None => want,
    };
    if current.current.is_some_and(|c| c >= target) {
        return current.current.unwrap_or(target);
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: current.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(_) => current.current.unwrap_or(0),
    }
}

/// A log file opened for appending, twice: for a child's stdout and stderr.
pub fn log_file(path: &std::path::Path) -> crate::Result<(fs::File, fs::File)> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((out, err))
}
