//! Memory back after a wave of connections. Each connection costs tens of kilobytes
//! (hyper's buffers, the websocket's, socket.io's per-socket state); when thousands
//! close, glibc's allocator keeps most of the freed pages (spread over its arenas,
//! with live allocations in between), and the process stays at its peak. After a
//! large drop in open connections this asks glibc to give free pages back
//! (`malloc_trim`, which since glibc 2.8 also releases free pages inside the heaps).
//! A trim takes a few milliseconds per hundred megabytes and runs off the runtime's
//! worker threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Open connections (guarded streams alive).
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// The most connections open at once since the last trim (a wave can come and go
/// between two checks).
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// How often the drop is looked at.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// A drop of at least this many connections since the peak is a wave…
const WAVE_MIN: usize = 500;

/// …if it is also at least a quarter of the peak.
const WAVE_SHARE_DIVISOR: usize = 4;

/// Counts one connection as open until the returned guard is dropped.
pub(super) fn opened() -> OpenConnection {
    let now = OPEN.fetch_add(1, Ordering::Relaxed) + 1;
    PEAK.fetch_max(now, Ordering::Relaxed);
    OpenConnection(())
}

/// One open connection, for [`open_connections`].
#[derive(Debug)]
pub(super) struct OpenConnection(());

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many connections are open now.
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// Whether a drop from `peak` to `now` open connections is a wave worth a trim.
fn is_wave(peak: usize, now: usize) -> bool {
    let dropped = peak.saturating_sub(now);
    dropped >= WAVE_MIN && dropped >= peak / WAVE_SHARE_DIVISOR
}

/// Watches the open connections until `stop`, trimming after each wave.
pub fn spawn_trimmer(mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            let now = open_connections();
            let peak = PEAK.load(Ordering::Relaxed);
            if is_wave(peak, now) {
                let started = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(trim).await;
                tracing::debug!(
                    peak,
                    now,
                    took_ms = started.elapsed().as_millis(),
                    "connections closed in a wave; free memory given back"
                );
                PEAK.store(open_connections(), Ordering::Relaxed);
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
        assert!(is_wave(2_000, 1_400));
        assert!(!is_wave(2_000, 1_600), "500 left, but only a fifth");
        assert!(!is_wave(400, 0), "small");
        assert!(!is_wave(100, 200));
    }
}
