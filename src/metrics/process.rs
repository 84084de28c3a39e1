//! What the process itself reports: when it started and how much memory it holds.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static STARTED: OnceLock<(Instant, SystemTime)> = OnceLock::new();

fn started() -> (Instant, SystemTime) {
    *STARTED.get_or_init(|| (Instant::now(), SystemTime::now()))
}

/// Notes the start of the process (the first call wins; later calls only read it).
pub fn start_time() -> SystemTime {
    started().1
}

/// How long the process has been running.
pub fn uptime() -> Duration {
    started().0.elapsed()
}

/// Seconds since the epoch at which the process started.
pub(super) fn start_time_seconds() -> f64 {
    start_time()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Resident set size in bytes, from `/proc/self/statm` (second field, in pages);
/// `None` where that file cannot be read.
pub(super) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|size| u64::try_from(size).ok())
        .unwrap_or(4096);
    Some(pages * page_size)
}
