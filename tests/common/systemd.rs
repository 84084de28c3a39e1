//! Helpers for the tests that drive the daemon with the real systemd tools instead of
//! systemd as PID 1 (no systemd runs as PID 1 in the test machines):
//!
//! * [`NotifySocket`]: an `AF_UNIX` datagram socket that plays systemd's `NOTIFY_SOCKET`
//!   and records every datagram with its arrival time;
//! * [`spawn_socket_activated`]: the daemon behind `systemd-socket-activate`, ready for
//!   the first connection;
//! * [`JOURNALD`]: where the journal daemon is.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process::Daemon;
use super::setup::DaemonSetup;

/// Where Debian installs journald (not in `$PATH`).
pub const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// One `sd_notify` datagram.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub at: Instant,
    pub text: String,
}

impl Datagram {
    /// The `KEY=value` lines.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        self.text
            .lines()
            .filter_map(|l| l.split_once('='))
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str, value: &str) -> bool {
        self.fields().contains(&(key, value))
    }
}

/// A datagram socket bound at `<dir>/notify.sock` (mode 0777 so a daemon that dropped
/// privileges can still send), read by a background thread.
pub struct NotifySocket {
    path: PathBuf,
    received: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock =
            UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("binding {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).expect("chmod notify.sock");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set_read_timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let received = received.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        received.lock().unwrap().push(Datagram {
                            at: Instant::now(),
                            text,
                        });
                    }
                }
            })
        };
        NotifySocket {
            path,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every datagram so far, oldest first.
    pub fn all(&self) -> Vec<Datagram> {
        self.received.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits for the first datagram at index ≥ `from` that satisfies `pred`; returns its
    /// index and the datagram.
    pub async fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&Datagram) -> bool,
    ) -> Option<(usize, Datagram)> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let all = self.received.lock().unwrap();
                if let Some((i, d)) = all.iter().enumerate().skip(from).find(|(_, d)| pred(d)) {
                    return Some((i, d.clone()));
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `NOTIFY_SOCKET` variable naming this socket, for a daemon's environment.
    pub fn env(&self) -> (String, String) {
        (
            "NOTIFY_SOCKET".to_string(),
            self.path().display().to_string(),
        )
    }

    /// [`NotifySocket::wait_for`] that panics with `what`, the datagrams and `d`'s output
    /// when no datagram matches within `timeout`.
    pub async fn expect(
        &self,
        from: usize,
        timeout: Duration,
        d: &Daemon,
        what: &str,
        pred: impl Fn(&Datagram) -> bool,
    ) -> (usize, Datagram) {
        self.wait_for(from, timeout, pred)
            .await
            .unwrap_or_else(|| panic!("{what}; datagrams:\n{}\n{}", self.dump(), d.logs()))
    }

    /// All datagrams, one per line, for failure messages.
    pub fn dump(&self) -> String {
        let all = self.all();
        let t0 = all.first().map(|d| d.at);
        all.iter()
            .map(|d| {
                format!(
                    "  +{:>6} ms  {:?}",
                    t0.map(|t| d.at.duration_since(t).as_millis())
                        .unwrap_or_default(),
                    d.text
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// `CLOCK_MONOTONIC` now, in µs. std's `Instant` is `CLOCK_MONOTONIC` on Linux and its
/// `Debug` shows the raw timespec; `/proc/uptime` (boot time) is the fallback.
pub fn monotonic_usec_now() -> u64 {
    let dbg = format!("{:?}", Instant::now());
    let num = |key: &str| -> Option<u64> {
        let rest = &dbg[dbg.find(key)? + key.len()..];
        let digits: String = rest
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    if let (Some(s), Some(ns)) = (num("tv_sec"), num("tv_nsec")) {
        return s * 1_000_000 + ns / 1000;
    }
    let up = fs::read_to_string("/proc/uptime").expect("/proc/uptime");
    let secs: f64 = up.split_whitespace().next().unwrap().parse().unwrap();
    (secs * 1e6) as u64
}

/// Waits until `systemd-socket-activate` (the process `d`, before it exec's the daemon)
/// printed "Listening on …" for each of its `sockets` sockets.
pub async fn wait_activator_listening(d: &Daemon, sockets: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.stderr().matches("Listening on").count() < sockets {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen within 10 s\n{}",
            d.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the daemon of `setup` behind `systemd-socket-activate` (`activate`) with a
/// socket on each address of `listen` (and `NOTIFY_SOCKET` passed on when `notify` is
/// given); returns once the activator listens: the first connection makes it exec the
/// daemon.
pub async fn spawn_socket_activated(
    setup: &DaemonSetup<'_>,
    activate: &Path,
    listen: &[SocketAddr],
    notify: Option<&NotifySocket>,
) -> Daemon {
    let mut args = Vec::new();
    for addr in listen {
        args.extend(["-l".to_string(), addr.to_string()]);
    }
    if let Some(n) = notify {
        args.extend([
            "-E".to_string(),
            format!("NOTIFY_SOCKET={}", n.path().display()),
        ]);
    }
    let d = setup.spawn_via(activate, &args);
    wait_activator_listening(&d, listen.len()).await;
    d
}
