//! Messages to the service manager (`sd_notify`). Every call is a no-op without
//! `NOTIFY_SOCKET`, so the same binary runs under systemd, by hand and in tests.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(%error, "cannot notify the service manager");
    }
}

/// The server accepts connections and every client's namespaces are live.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new one-line status for `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A reload starts (SIGHUP); `ready` follows when it is done.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(error) => {
            tracing::debug!(%error, "cannot read CLOCK_MONOTONIC");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// The server is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Keep-alive for `WatchdogSec=`.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to send [`watchdog`]: half the interval systemd asked for.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}
