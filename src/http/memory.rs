//! Memory back after a wave of connections. Each connection costs tens of kilobytes
//! (hyper's buffers, the websocket's, socket.io's per-socket state); when thousands
//! close, glibc's allocator keeps most of the freed pages (spread over its arenas,
//! with live allocations in between), and the process stays at its peak. Once many
//! connections closed (500 and a quarter of those open, at most every 15 s) this
//! asks glibc to give free pages back
//! (`malloc_trim`, which since glibc 2.8 also releases free pages inside the heaps).
//! A trim takes a few milliseconds per hundred megabytes and runs off the runtime's
//! worker threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Open connections (guarded streams alive).
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Connections closed since the last trim (a wave can come and go between two
/// checks, and end in several steps).
static CLOSED: AtomicUsize = AtomicUsize::new(0);

/// How often the drop is looked at.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// At least this many connections closed since the last trim are a wave…
const WAVE_MIN: usize = 500;

/// …if they are also at least a quarter of those open before.
const WAVE_SHARE_DIVISOR: usize = 4;

/// Trims are this far apart at least (steady coming and going of browsers on a busy
/// server would otherwise trim at every check).
const MIN_TRIM_GAP: Duration = Duration::from_secs(15);

/// Counts one connection as open until the returned guard is dropped.
pub(super) fn opened() -> OpenConnection {
    OPEN.fetch_add(1, Ordering::Relaxed);
    OpenConnection(())
}

/// One open connection, for [`open_connections`].
#[derive(Debug)]
pub(super) struct OpenConnection(());

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
        CLOSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many connections are open now.
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// Whether `closed` connections since the last trim, with `open` still open, are a
/// wave worth a trim.
fn is_wave(closed: usize, open: usize) -> bool {
    closed >= WAVE_MIN && closed >= (closed + open) / WAVE_SHARE_DIVISOR
}

/// Watches the open connections until `stop`, trimming after each wave.
pub fn spawn_trimmer(mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECK_INTERVAL);
        let mut last_trim: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            let (closed, open) = (CLOSED.load(Ordering::Relaxed), open_connections());
            let due = last_trim.is_none_or(|at| at.elapsed() >= MIN_TRIM_GAP);
            if due && is_wave(closed, open) {
                CLOSED.fetch_sub(closed, Ordering::Relaxed);
                last_trim = Some(tokio::time::Instant::now());
                let started = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(trim).await;
                tracing::debug!(
                    closed,
                    open,
                    took_ms = started.elapsed().as_millis(),
                    "connections closed in a wave; free memory given back"
                );
            }
        }
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks glibc's own heaps under their locks; it has no
    // preconditions on the caller.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wave_is_large_in_number_and_share() {
        assert!(is_wave(20_000, 0));
        assert!(is_wave(600, 1_400));
        assert!(!is_wave(500, 2_100), "500 closed, but less than a quarter");
        assert!(!is_wave(400, 0), "small");
        assert!(!is_wave(100, 200));
    }
}
