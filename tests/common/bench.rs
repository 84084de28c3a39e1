//! What the benchmarks in `benches/` share: the descriptor limit of the bench process,
//! fields of `/proc/<pid>/…` (RSS, limits, CPU time) and latency summaries.

use std::time::Duration;

/// Raises this process's soft descriptor limit to its hard limit: a load client holds
/// thousands of connections.
pub fn raise_own_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// What every bench's `main` starts with: its positional arguments (cargo's `--bench`
/// and other flags left out), its descriptor limit raised, and a multi-threaded runtime.
pub fn bench_start() -> (Vec<String>, tokio::runtime::Runtime) {
    let args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    raise_own_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (args, runtime)
}

/// The line of `/proc/<pid>/<file>` that starts with `prefix`, whitespace collapsed
/// (e.g. `status` / `VmRSS`, `limits` / `Max open files`); empty when missing.
pub fn proc_field(pid: u32, file: &str, prefix: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The resident set of a process, in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    proc_field(pid, "status", "VmRSS:")
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds a process has used so far, user plus system (`utime + stime` of
/// `/proc/<pid>/stat`); `pid` "self" for this process. 0 when it cannot be read.
pub fn cpu_seconds(pid: &str) -> f64 {
    let (user, system) = cpu_times(pid);
    user + system
}

/// CPU seconds a process has used so far in user space and in the kernel (`utime`,
/// `stime` of `/proc/<pid>/stat`); zeros when it cannot be read.
pub fn cpu_times(pid: &str) -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // The command name (field 2) may contain spaces: count from after its ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as f64;
    // Fields 14 and 15 of the file; `rest` starts at field 3.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0) as f64
    };
    (ticks(11) / per_second, ticks(12) / per_second)
}

/// "N calls, p50 …, p99 …, max …, over 100 ms: …" of a set of latencies.
pub fn latency_summary(took: &[Duration]) -> String {
    let mut sorted = took.to_vec();
    sorted.sort();
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    format!(
        "{} calls, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, over 100 ms: {}",
        sorted.len(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        sorted
            .iter()
            .filter(|d| **d > Duration::from_millis(100))
            .count()
    )
}
