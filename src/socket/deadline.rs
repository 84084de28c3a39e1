//! The login deadline: a socket that has not sent `login` this long after it
//! connected is disconnected. ILIAS pages send `login` as soon as they connect, so only
//! sockets that never will (scanners, abandoned scripts, floods) are cut off; each held
//! about 30 KB and a descriptor for as long as its peer kept answering pings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socketioxide::extract::SocketRef;
use tokio::sync::Notify;

use crate::http::limits::Closer;

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

/// Sockets cut off since the last line about them, and when that line was.
static CUT_OFF: Mutex<(u64, Option<Instant>)> = Mutex::new((0, None));

/// How often the count of cut-off sockets is logged while it grows.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Logs the first socket cut off, then a count at most every [`REPORT_EVERY`]: a
/// flood of sockets that never log in must not flood the log.
fn count_cut_off() {
    let mut cut = CUT_OFF.lock().unwrap_or_else(|p| p.into_inner());
    cut.0 += 1;
    let due = cut.1.is_none_or(|last| last.elapsed() >= REPORT_EVERY);
    if due {
        tracing::info!(
            count = cut.0,
            "sockets disconnected for sending no login within login_timeout"
        );
        *cut = (0, Some(Instant::now()));
    }
}

/// How long a socket cut off by the deadline keeps its connection after the namespace
/// disconnect, so the browser gets the DISCONNECT packet first.
const CLOSE_AFTER_DISCONNECT: Duration = Duration::from_secs(1);

/// The login deadline of one socket, lifted when its `login` arrives or it leaves.
#[derive(Debug, Clone, Default)]
pub struct LoginDeadline(Arc<Notify>);

impl LoginDeadline {
    /// The socket sent `login` or disconnected: the deadline no longer applies. Its
    /// watcher ends at once and lets go of the socket (it would otherwise keep the
    /// socket's whole state alive until the deadline, a minute after a wave of
    /// browsers left).
    pub fn lift(&self) {
        // A stored permit: lifting before the watcher first waits counts too.
        self.0.notify_one();
    }
}

/// Starts the deadline of a socket that just joined a namespace: unless it is lifted
/// by then, the socket is disconnected and its connection closed. A namespace
/// disconnect alone would leave the engine.io connection of a client that does not
/// close it itself.
pub fn watch(socket: &SocketRef) -> LoginDeadline {
    let deadline = LoginDeadline::default();
    let Some(timeout) = login_timeout() else {
        return deadline;
    };
    let lifted = deadline.0.clone();
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = lifted.notified() => return,
            _ = tokio::time::sleep(timeout) => {}
        }
        if !socket.connected() {
            return;
        }
        tracing::debug!(sid = %socket.id, "disconnected: no login before login_timeout");
        count_cut_off();
        let closer = socket.req_parts().extensions.get::<Closer>().cloned();
        if let Err(error) = socket.disconnect() {
            tracing::debug!(%error, "disconnecting a socket without login failed");
        }
        if let Some(closer) = closer {
            tokio::time::sleep(CLOSE_AFTER_DISCONNECT).await;
            closer.close();
        }
    });
    deadline
}
