//! Helpers for the tests that drive the daemon with the real systemd tools instead of
//! systemd as PID 1 (see `spec/rust-stack.md` §5):
//!
//! * [`require_root`] / [`require_tool`]: these tests fail (never skip) when they cannot
//!   do their job, naming the missing package;
//! * [`ScratchUser`]: a throwaway system user + group (`useradd --system`), deleted on
//!   drop — the daemon drops privileges to it when started as root;
//! * [`NotifySocket`]: an `AF_UNIX` datagram socket that plays systemd's `NOTIFY_SOCKET`
//!   and records every datagram with its arrival time;
//! * [`Daemon`]: a process (the binary, or `systemd-socket-activate …`/`nsenter …` in
//!   front of it) with stdout/stderr in files, killed on drop;
//! * [`http_at`]: one HTTP/1.1 request to any address (IPv4 or IPv6);
//! * [`Polling`]: a minimal Engine.IO 4 polling client that joins a socket.io namespace
//!   and keeps the session alive (answers pings) until dropped.
#![allow(dead_code)]

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Daemon, HttpResponse, exchange, parse_response, random_u64, server_binary};

/// Where Debian installs journald (not in `$PATH`).
pub const JOURNALD: &str = "/lib/systemd/systemd-journald";

// ---------------------------------------------------------------------------
// Preconditions
// ---------------------------------------------------------------------------

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails the test (does not skip it) when not running as root: CI runs as root, and a
/// silently skipped privilege test would hide a broken daemon.
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "\n\n*** This test must run as root ({why}); it fails instead of skipping so that a \
         non-root CI run cannot hide a broken daemon.\n"
    );
}

/// The absolute path of `tool` (a name looked up in `$PATH`, `/usr/sbin` and `/sbin`, or an
/// absolute path); fails the test naming the Debian package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let found = if tool.starts_with('/') {
        Some(PathBuf::from(tool)).filter(|p| is_executable(p))
    } else {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':')
            .filter(|d| !d.is_empty())
            .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .map(|d| Path::new(d).join(tool))
            .find(|p| is_executable(p))
    };
    found.unwrap_or_else(|| {
        panic!(
            "\n\n*** `{tool}` is missing: install the Debian package `{package}` \
             (apt-get install {package}).\n"
        )
    })
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a command to completion with a time limit; returns (status, stdout, stderr).
pub fn run_tool(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------
// Throwaway system user
// ---------------------------------------------------------------------------

/// A system user and its private group, `ilchat_t<random>`, created with `useradd
/// --system` and removed again on drop (also when the test panics). Drop every process
/// running as this user before the `ScratchUser` (declare the user first).
#[derive(Debug)]
pub struct ScratchUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl ScratchUser {
    pub fn create() -> ScratchUser {
        require_root("creating a throwaway system user needs root");
        let useradd = require_tool("useradd", "passwd");
        let name = format!("ilchat_t{:08x}", random_u64() as u32);
        // useradd refuses to run while another one holds /etc/passwd's lock (parallel
        // tests): retry for a while.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, err) = run_tool(
                Command::new(&useradd)
                    .args([
                        "--system",
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        "--user-group",
                    ])
                    .arg(&name),
                Duration::from_secs(30),
            );
            if status.success() {
                break;
            }
            if Instant::now() > deadline {
                panic!("useradd {name} failed ({status}): {err}");
            }
            std::thread::sleep(Duration::from_millis(50 + random_u64() % 200));
        }
        let user = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("useradd {name} succeeded but getpwnam cannot find it"));
        ScratchUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }

    /// `["--user", name]`.
    pub fn args(&self) -> Vec<String> {
        vec!["--user".into(), self.name.clone()]
    }
}

impl Drop for ScratchUser {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("userdel")
                .arg(&self.name)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            match out {
                Ok(o) if o.status.success() => break,
                // 6: the user does not exist (any more).
                Ok(o) if o.status.code() == Some(6) => break,
                Ok(o) if Instant::now() > deadline => {
                    eprintln!(
                        "warning: userdel {} failed: {}",
                        self.name,
                        String::from_utf8_lossy(&o.stderr)
                    );
                    break;
                }
                Err(e) => {
                    eprintln!("warning: userdel {}: {e}", self.name);
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50 + random_u64() % 200)),
            }
        }
        // userdel removes the private group too; make sure.
        if nix::unistd::Group::from_name(&self.name)
            .ok()
            .flatten()
            .is_some()
        {
            let _ = Command::new("groupdel")
                .arg(&self.name)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A scratch user when running as root (the daemon then must drop privileges and needs a
/// user to drop to), none otherwise.
pub fn scratch_user_if_root() -> Option<ScratchUser> {
    is_root().then(ScratchUser::create)
}

/// `--user NAME` for [`scratch_user_if_root`]'s result.
pub fn user_args(user: &Option<ScratchUser>) -> Vec<String> {
    user.as_ref().map(|u| u.args()).unwrap_or_default()
}

/// `Uid:`/`Gid:` (four ids each) and `Groups:` of `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcIds {
    pub uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
}

pub fn proc_ids(pid: u32) -> ProcIds {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let nums = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
            .split_whitespace()
            .map(|n| n.parse().expect("id"))
            .collect()
    };
    ProcIds {
        uid: nums("Uid:"),
        gid: nums("Gid:"),
        groups: nums("Groups:"),
    }
}

// ---------------------------------------------------------------------------
// NOTIFY_SOCKET receiver
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

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

/// The binary under test.
pub fn binary() -> PathBuf {
    server_binary()
}

/// Polls `cond` every 50 ms for up to `timeout`.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// HTTP to any address
// ---------------------------------------------------------------------------

/// One request on a fresh connection to `addr` (`Connection: close`, the JSON content
/// type ILIAS PHP sends, Basic auth when given, a body when given).
pub async fn http_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let host = match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\n"
    );
    if let Some((u, p)) = auth {
        req.push_str(&format!("Authorization: {}\r\n", super::basic_auth(u, p)));
    }
    if let Some(b) = body {
        req = req.replace(
            "Content-Type: application/json; charset=utf-8\r\n",
            "Content-Type: text/plain;charset=UTF-8\r\n",
        );
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    let raw = tokio::time::timeout(timeout, exchange(addr, &req))
        .await
        .map_err(|_| {
            format!("{method} {path} on {addr}: no complete response within {timeout:?}")
        })??;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

/// `127.0.0.1:port`.
pub fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `[::1]:port`.
pub fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
}

/// GET with a 10 s limit; `Err` on transport errors.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Result<HttpResponse, String> {
    http_at(addr, "GET", path, auth, None, Duration::from_secs(10)).await
}

/// [`wait_http_200`] that panics with `what`, the last error and `d`'s output.
pub async fn expect_http_200(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    d: &Daemon,
    what: &str,
) {
    if let Err(e) = wait_http_200(addr, path, timeout).await {
        panic!("{what} ({e})\n{}", d.logs());
    }
}

/// The lines of a (log) file; none when it cannot be read.
pub fn read_lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// GETs `path` until it answers 200 or `timeout` passes; the last error otherwise.
pub async fn wait_http_200(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http_at(addr, "GET", path, None, None, Duration::from_secs(3)).await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("HTTP {} {}", r.status, r.body),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True when nothing accepts TCP connections on `addr`.
pub async fn nothing_listens(addr: SocketAddr) -> bool {
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => false,
        Ok(Err(_)) => true,
        // A SYN that is never answered is not a listener either.
        Err(_) => true,
    }
}

// ---------------------------------------------------------------------------
// socket.io over Engine.IO 4 polling
// ---------------------------------------------------------------------------

/// An Engine.IO 4 polling session joined to one socket.io namespace. A background task
/// keeps a long-poll request open and answers pings, so the session (and a TCP
/// connection) stays alive until the value is dropped.
pub struct Polling {
    pub sid: String,
    pub namespace: String,
    keepalive: tokio::task::JoinHandle<()>,
}

const EIO_PATH: &str = "/socket.io/?EIO=4&transport=polling";

impl Polling {
    /// Handshake, then `40<namespace>,`; `Err` with the server's answer when the
    /// namespace connect is refused (`44…`) or anything else goes wrong.
    pub async fn connect(addr: SocketAddr, namespace: &str) -> Result<Polling, String> {
        let t = Duration::from_secs(10);
        let r = http_at(addr, "GET", EIO_PATH, None, None, t).await?;
        if r.status != 200 || !r.body.starts_with('0') {
            return Err(format!("handshake: HTTP {} {:?}", r.status, r.body));
        }
        let open: Value = serde_json::from_str(&r.body[1..])
            .map_err(|e| format!("handshake body {:?}: {e}", r.body))?;
        let sid = open["sid"]
            .as_str()
            .ok_or_else(|| format!("handshake without sid: {}", r.body))?
            .to_owned();
        let path = format!("{EIO_PATH}&sid={sid}");
        let r = http_at(
            addr,
            "POST",
            &path,
            None,
            Some(&format!("40{namespace},")),
            t,
        )
        .await?;
        if r.status != 200 {
            return Err(format!(
                "namespace connect POST: HTTP {} {:?}",
                r.status, r.body
            ));
        }
        let deadline = Instant::now() + t;
        loop {
            let r = http_at(addr, "GET", &path, None, None, Duration::from_secs(40)).await?;
            if r.status != 200 {
                return Err(format!("poll: HTTP {} {:?}", r.status, r.body));
            }
            for packet in r.body.split('\u{1e}') {
                if packet.starts_with(&format!("40{namespace},")) {
                    let keepalive = tokio::spawn(keepalive(addr, path.clone()));
                    return Ok(Polling {
                        sid,
                        namespace: namespace.to_owned(),
                        keepalive,
                    });
                }
                if packet.starts_with(&format!("44{namespace},")) {
                    return Err(format!("namespace {namespace} refused: {packet}"));
                }
                if packet == "2" {
                    let _ = http_at(addr, "POST", &path, None, Some("3"), t).await;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer to the connect of {namespace}"));
            }
        }
    }
}

async fn keepalive(addr: SocketAddr, path: String) {
    loop {
        let Ok(r) = http_at(addr, "GET", &path, None, None, Duration::from_secs(60)).await else {
            return;
        };
        if r.status != 200 {
            return;
        }
        for packet in r.body.split('\u{1e}') {
            if packet == "2" {
                let _ = http_at(
                    addr,
                    "POST",
                    &path,
                    None,
                    Some("3"),
                    Duration::from_secs(10),
                )
                .await;
            } else if packet == "1" {
                return;
            }
        }
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}
