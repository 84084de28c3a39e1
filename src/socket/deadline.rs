//! The login deadline: a socket that has not sent `login` this long after it
//! connected is disconnected. ILIAS pages send `login` as soon as they connect, so only
//! sockets that never will (scanners, abandoned scripts, floods) are cut off; each held
//! about 30 KB and a descriptor for as long as its peer kept answering pings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// 0: no deadline.
static LOGIN_TIMEOUT_MS: AtomicU64 = AtomicU64::new(60_000);

/// Sets the deadline (server.cfg `login_timeout`; `None` turns it off). Applies to
/// sockets that connect afterwards.
pub fn set_login_timeout(timeout: Option<Duration>) {
    let ms = timeout.map_or(0, |t| {
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
    });
    LOGIN_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The deadline in force; `None` when off.
pub fn login_timeout() -> Option<Duration> {
    match LOGIN_TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// Waits until the deadline of a socket that connected now; never when off.
pub async fn login_deadline(timeout: Option<Duration>) {
    match timeout {
        Some(timeout) => tokio::time::sleep(timeout).await,
        None => std::future::pending().await,
    }
}
