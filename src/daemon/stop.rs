//! A stop for good or a pause? Under socket activation the listening socket outlives
//! the process, so a SIGTERM is normally a pause — a restart, a package upgrade, or
//! `systemctl stop ilias-chat.service` while the socket unit keeps listening — after
//! which browsers reconnect to the next process. It is a stop for good when:
//!
//! - the socket unit is being stopped too (`systemctl stop ilias-chat.socket
//!   ilias-chat.service`, the package's removal): systemd then has a `stop` job queued
//!   for the socket unit while it stops the service (the socket is stopped after the
//!   service), which `systemctl list-jobs` shows; or
//! - the stop marker [`MARKER`] exists in the state directory (written by the package's
//!   `prerm remove`, or by an admin before the stop: `touch
//!   /var/lib/ilias-chat/stop-for-good`). It is removed when read, and at start.
//!
//! A process that cannot ask systemd (no `systemctl`, no D-Bus) falls back to the
//! marker alone.

use std::path::Path;
use std::time::Duration;

use crate::daemon::state::StateDir;

/// The stop marker, in the root of the state directory.
pub const MARKER: &str = "stop-for-good";

/// Environment variable naming the `systemctl` to ask (tests use a stand-in).
pub const SYSTEMCTL_ENV: &str = "ILIAS_CHAT_SYSTEMCTL";

/// How long `systemctl list-jobs` may take before the answer is taken as "no".
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// The name systemd gives the metrics socket (not a unit name).
const METRICS_SOCKET_NAME: &str = "metrics";

/// The socket units that passed the listening sockets: `LISTEN_FDNAMES` names each
/// socket after its unit unless the unit sets `FileDescriptorName=`. Read at start,
/// before the sockets are taken.
pub fn socket_units() -> Vec<String> {
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let mut units: Vec<String> = names
        .split(':')
        .filter(|name| name.ends_with(".socket") && *name != METRICS_SOCKET_NAME)
        .map(str::to_string)
        .collect();
    units.sort();
    units.dedup();
    units
}

/// Removes a stop marker left from before (a stop for good of a process that was not
/// running, or one that could not remove it).
pub fn clear_stale_marker(state: &StateDir) {
    let path = state.root().join(MARKER);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::info!(path = %path.display(), "stale stop marker removed"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot remove the stale stop marker")
        }
    }
}

/// Why this stop is for good, if it is (sockets outlive the process).
pub async fn for_good(state: &StateDir, socket_units: &[String]) -> Option<String> {
    if take_marker(&state.root().join(MARKER)) {
        return Some(format!("stop marker {MARKER} in the state directory"));
    }
    if socket_units.is_empty() {
        return None;
    }
    let jobs = list_jobs().await?;
    stopping_unit(&jobs, socket_units).map(|unit| format!("systemd is stopping {unit}"))
}

fn take_marker(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => {
            // It is there: the stop is for good even if it stays.
            tracing::warn!(path = %path.display(), %error, "cannot remove the stop marker");
            path.exists()
        }
    }
}

/// The output of `systemctl list-jobs`, or `None` when it cannot be had.
async fn list_jobs() -> Option<String> {
    let program = std::env::var(SYSTEMCTL_ENV).unwrap_or_else(|_| "systemctl".to_string());
    let run = tokio::process::Command::new(&program)
        .args(["list-jobs", "--no-legend", "--no-pager", "--plain"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(ASK_TIMEOUT, run).await {
        Ok(Ok(output)) if output.status.success() => {
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(Ok(output)) => {
            tracing::warn!(%program, status = %output.status, "systemctl list-jobs failed; taking the stop as a pause");
            None
        }
        Ok(Err(error)) => {
            tracing::warn!(%program, %error, "cannot run systemctl list-jobs; taking the stop as a pause");
            None
        }
        Err(_) => {
            tracing::warn!(%program, "systemctl list-jobs did not answer; taking the stop as a pause");
            None
        }
    }
}

/// The first of `units` with a `stop` job in `systemctl list-jobs` output
/// (`JOB UNIT TYPE STATE` per line). A `restart` job of the socket is no stop for good.
fn stopping_unit<'a>(jobs: &str, units: &'a [String]) -> Option<&'a str> {
    jobs.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_job, unit, kind) = (fields.next()?, fields.next()?, fields.next()?);
        if kind != "stop" {
            return None;
        }
        units.iter().find(|u| *u == unit).map(String::as_str)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_stop_of_the_socket_unit_is_a_stop_for_good() {
        let units = vec!["ilias-chat.socket".to_string()];
        let jobs = "1234 ilias-chat.socket stop waiting\n1233 ilias-chat.service stop running\n";
        assert_eq!(stopping_unit(jobs, &units), Some("ilias-chat.socket"));
    }

    #[test]
    fn a_restart_or_another_unit_is_a_pause() {
        let units = vec!["ilias-chat.socket".to_string()];
        assert_eq!(
            stopping_unit("12 ilias-chat.service restart running\n", &units),
            None
        );
        assert_eq!(
            stopping_unit("13 ilias-chat.socket restart waiting\n", &units),
            None
        );
        assert_eq!(
            stopping_unit("14 other.socket stop waiting\n", &units),
            None
        );
        assert_eq!(stopping_unit("", &units), None);
        assert_eq!(stopping_unit("garbage\n\n", &units), None);
    }

    #[test]
    fn the_marker_is_taken_once() {
        let dir = std::env::temp_dir().join(format!("ilias-chat-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join(MARKER);
        std::fs::write(&marker, b"").unwrap();
        assert!(take_marker(&marker));
        assert!(!take_marker(&marker));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
