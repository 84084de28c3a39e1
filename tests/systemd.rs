//! The daemon under the real systemd tools (systemd is not PID 1 here):
//!
//! * socket activation with `systemd-socket-activate` (IPv4, IPv6, several sockets): the
//!   passed sockets are served and server.cfg's `address:port` is NOT bound;
//! * the `sd_notify` protocol, received on our own `NOTIFY_SOCKET`: `READY=1` + `STATUS=`
//!   only once the namespaces are live, periodic and on-change `STATUS=` with clients,
//!   database states and connections, `WATCHDOG=1` at `WATCHDOG_USEC/2`, `RELOADING=1` +
//!   `MONOTONIC_USEC` then `READY=1` on SIGHUP (also for a broken config), `STOPPING=1`
//!   and exit code 0 on SIGTERM;
//! * client config arguments given as a directory or as a glob the daemon expands itself
//!   (systemd's `ExecStart=` does not expand globs).
//!
//! When run as root, every daemon gets `--user <throwaway system user>` (a root start
//! drops privileges; the notify socket is mode 0777 for that).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::systemd::{Datagram, NotifySocket, monotonic_usec_now, spawn_socket_activated};
use common::{
    Daemon, DaemonSetup, Polling, Schema, ScratchUser, TempDir, TestDb, client_cfg,
    expect_http_200, free_port, get, http_at, nothing_listens, require_tool, scratch_user_if_root,
    unreachable_client, v4, v6, write_json,
};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(30);
const TEN_S: Duration = Duration::from_secs(10);

/// A port that is free and different from `other`.
fn another_free_port(other: u16) -> u16 {
    loop {
        let p = free_port();
        if p != other {
            return p;
        }
    }
}

/// Client `onscreen` (key1/secret1) on `db`; `--user` the scratch user when root.
fn onscreen<'a>(dir: &'a TempDir, db: &TestDb, user: &Option<ScratchUser>) -> DaemonSetup<'a> {
    DaemonSetup::new(dir)
        .client(client_cfg("onscreen", "key1", "secret1", db))
        .scratch_user(user)
}

/// Starts the daemon of `setup` with a `NOTIFY_SOCKET` in its directory and waits for
/// READY=1; returns the daemon, the socket and the index of READY=1.
async fn start_until_ready(setup: DaemonSetup<'_>) -> (Daemon, NotifySocket, usize) {
    let notify = NotifySocket::bind(setup.dir().path());
    let d = setup.env(notify.env()).spawn();
    let (ri, _) = notify
        .expect(0, START, &d, "no READY=1", |m| m.has("READY", "1"))
        .await;
    (d, notify, ri)
}

async fn expect_connect_ok(
    addr: std::net::SocketAddr,
    client: &str,
    auth: (&str, &str),
    d: &Daemon,
) {
    let path = format!("/backend/Connect/{client}/7/42");
    let r = get(addr, &path, Some(auth))
        .await
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}\n{}", d.logs()));
    assert_eq!(
        (r.status, serde_json::from_str::<Value>(&r.body).ok()),
        (200, Some(json!({"status": 200}))),
        "GET {path} on {addr} with {client}'s credentials answered {} {}\n{}",
        r.status,
        r.body,
        d.logs()
    );
}

async fn expect_heartbeat(addr: std::net::SocketAddr, d: &Daemon) {
    let r = http_at(
        addr,
        "GET",
        "/backend/Heartbeat/onscreen",
        None,
        None,
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("Heartbeat on {addr}: {e}\n{}", d.logs()));
    assert_eq!(
        r.status,
        200,
        "Heartbeat on {addr}: {}\n{}",
        r.body,
        d.logs()
    );
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).ok(),
        Some(json!({"status": 200})),
        "Heartbeat body on {addr}"
    );
}

// ---------------------------------------------------------------------------
// Socket activation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn socket_activation_serves_the_passed_socket_and_does_not_bind_server_cfg() {
    let activate = require_tool("systemd-socket-activate", "systemd");
    let user = scratch_user_if_root();
    let dir = TempDir::new("sdact");
    let db = TestDb::create(Schema::Ilias9).await;
    let sock_port = free_port();
    let cfg_port = another_free_port(sock_port);
    let notify = NotifySocket::bind(dir.path());
    let d = spawn_socket_activated(
        &onscreen(&dir, &db, &user).server_key("port", json!(cfg_port)),
        &activate,
        &[v4(sock_port)],
        Some(&notify),
    )
    .await;

    // systemd-socket-activate exec's the daemon on the first connection, which the
    // daemon must then serve.
    expect_heartbeat(v4(sock_port), &d).await;
    notify
        .expect(0, START, &d, "no READY=1 under socket activation", |m| {
            m.has("READY", "1")
        })
        .await;
    expect_connect_ok(v4(sock_port), "onscreen", ("key1", "secret1"), &d).await;
    assert!(
        nothing_listens(v4(cfg_port)).await,
        "with LISTEN_FDS the daemon must not bind server.cfg's 127.0.0.1:{cfg_port}, but \
         something accepts connections there\n{}",
        d.logs()
    );
    let stderr = d.stderr();
    let info_systemd: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("INFO") && l.to_ascii_lowercase().contains("systemd"))
        .collect();
    assert_eq!(
        info_systemd.len(),
        1,
        "expected exactly one INFO line saying that systemd's sockets are used, got {info_systemd:#?}\n{}",
        d.logs()
    );
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn socket_activation_with_several_sockets_including_ipv6() {
    let activate = require_tool("systemd-socket-activate", "systemd");
    let user = scratch_user_if_root();
    let dir = TempDir::new("sdact6");
    let db = TestDb::create(Schema::Ilias9).await;
    let p4 = free_port();
    let p6 = {
        let l = std::net::TcpListener::bind("[::1]:0")
            .expect("binding [::1]:0 failed: the loopback interface has no IPv6 address (::1)");
        l.local_addr().unwrap().port()
    };
    let cfg_port = another_free_port(p4);
    let d = spawn_socket_activated(
        &onscreen(&dir, &db, &user).server_key("port", json!(cfg_port)),
        &activate,
        &[v4(p4), v6(p6)],
        None,
    )
    .await;

    // The first connection (on the IPv6 socket) starts the daemon.
    expect_heartbeat(v6(p6), &d).await;
    expect_heartbeat(v4(p4), &d).await;
    expect_connect_ok(v6(p6), "onscreen", ("key1", "secret1"), &d).await;
    expect_connect_ok(v4(p4), "onscreen", ("key1", "secret1"), &d).await;
    assert!(
        nothing_listens(v4(cfg_port)).await,
        "server.cfg's port {cfg_port} must stay unbound with LISTEN_FDS=2\n{}",
        d.logs()
    );
    drop(d);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------
// sd_notify
// ---------------------------------------------------------------------------

/// The number before " connection" in a STATUS text.
fn connections_in(status: &str) -> Option<u64> {
    let at = status.find(" connection")?;
    let digits: String = status[..at]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// The text after `"<name>: "` up to the next `,` or `)`.
fn client_state<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}: ");
    let at = status.find(&key)? + key.len();
    let rest = &status[at..];
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn db_connected(state: &str) -> bool {
    let s = state.to_ascii_lowercase();
    s.contains("connected") && !s.contains("not connected") && !s.contains("disconnected")
}

#[test]
fn status_text_helpers() {
    let s = "2 clients (onscreen: database connected, other: waiting for database), 3 connections";
    assert_eq!(connections_in(s), Some(3));
    assert_eq!(client_state(s, "onscreen"), Some("database connected"));
    assert_eq!(client_state(s, "other"), Some("waiting for database"));
    assert!(db_connected("database connected"));
    assert!(!db_connected("database not connected"));
}

#[tokio::test]
async fn notify_ready_status_connections_and_watchdog() {
    let user = scratch_user_if_root();
    let dir = TempDir::new("notify");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = onscreen(&dir, &db, &user).client(unreachable_client("other", "key2", "secret2"));
    let port = setup.port();
    let notify = NotifySocket::bind(dir.path());
    let d = setup
        .env(notify.env())
        .env(("WATCHDOG_USEC".into(), "1000000".into()))
        .spawn();

    let (_, ready) = notify
        .expect(0, START, &d, &format!("no READY=1 within {START:?}"), |m| {
            m.has("READY", "1")
        })
        .await;
    assert!(
        ready.get("STATUS").is_some(),
        "READY=1 must come with STATUS= in the same datagram, got {:?}",
        ready.text
    );

    // Right after READY: the listener accepts and every namespace is live.
    let hb = get(v4(port), "/backend/Heartbeat/onscreen", None).await;
    assert!(
        matches!(&hb, Ok(r) if r.status == 200),
        "Heartbeat right after READY=1 failed: {hb:?}\n{}",
        d.logs()
    );
    let mut sockets = Vec::new();
    for ns in ["/onscreen", "/onscreen-im", "/other", "/other-im"] {
        match Polling::connect(v4(port), ns).await {
            Ok(p) => sockets.push(p),
            Err(e) => panic!(
                "socket.io namespace {ns} right after READY=1: {e}\n{}",
                d.logs()
            ),
        }
    }

    // STATUS: both clients with their database state and the connection count.
    let wanted = |m: &Datagram| {
        m.get("STATUS").is_some_and(|s| {
            s.contains("2 clients")
                && client_state(s, "onscreen").is_some_and(db_connected)
                && client_state(s, "other")
                    .is_some_and(|st| st.to_ascii_lowercase().contains("waiting"))
                && connections_in(s).is_some_and(|n| n >= 4)
        })
    };
    let (seen, status) = notify
        .wait_for(0, Duration::from_secs(15), wanted)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no STATUS= like \"2 clients (onscreen: database connected, other: waiting for \
                 database), N connections\" with N >= 4 (4 socket.io connections are open) \
                 within 15 s; datagrams:\n{}\n{}",
                notify.dump(),
                d.logs()
            )
        });
    let status_text = status.get("STATUS").unwrap().to_owned();
    println!("STATUS={status_text}");
    let before = connections_in(&status_text).unwrap();

    // Two more connections: the count follows (on change or at the next 5 s update).
    let more = [
        Polling::connect(v4(port), "/onscreen").await,
        Polling::connect(v4(port), "/onscreen").await,
    ];
    for m in &more {
        assert!(m.is_ok(), "extra connection: {m:?}", m = m.as_ref().err());
    }
    assert!(
        notify
            .wait_for(seen + 1, Duration::from_secs(8), |m| {
                m.get("STATUS")
                    .and_then(connections_in)
                    .is_some_and(|n| n >= before + 2)
            })
            .await
            .is_some(),
        "after opening 2 more socket.io connections no STATUS= showed at least {} \
         connections within 8 s; datagrams:\n{}",
        before + 2,
        notify.dump()
    );

    // A quiet stretch: STATUS= is repeated every 5 s, WATCHDOG=1 every 0.5 s.
    let quiet_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let all = notify.all();
    let after_quiet: Vec<_> = all.iter().filter(|m| m.at >= quiet_from).collect();
    let statuses = after_quiet
        .iter()
        .filter(|m| m.get("STATUS").is_some())
        .count();
    assert!(
        statuses >= 2,
        "expected STATUS= at least every 5 s (>= 2 in 11 s), got {statuses}; datagrams:\n{}",
        notify.dump()
    );
    let pings: Vec<Instant> = all
        .iter()
        .filter(|m| m.has("WATCHDOG", "1") && m.at >= ready.at)
        .map(|m| m.at)
        .collect();
    let in_3s = pings
        .iter()
        .filter(|t| **t >= quiet_from && **t < quiet_from + Duration::from_secs(3))
        .count();
    assert!(
        in_3s >= 3,
        "WATCHDOG_USEC=1000000: expected WATCHDOG=1 about every 0.5 s, got {in_3s} in 3 s; \
         datagrams:\n{}",
        notify.dump()
    );
    let gaps: Vec<u128> = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis())
        .collect();
    let (min, max) = (
        gaps.iter().copied().min().unwrap_or(0),
        gaps.iter().copied().max().unwrap_or(0),
    );
    println!(
        "watchdog: {} pings, gaps {min}..{max} ms, {statuses} STATUS in 11 s",
        pings.len()
    );
    assert!(
        min >= 166,
        "WATCHDOG=1 more than 3x too often: a gap of {min} ms (expected ~500 ms); gaps {gaps:?}"
    );
    assert!(
        max < 1000,
        "a gap of {max} ms between WATCHDOG=1 pings would trip WatchdogSec=1s; gaps {gaps:?}"
    );
    drop(more);
    drop(sockets);
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn sighup_notifies_reloading_then_ready_also_when_a_config_is_broken() {
    let user = scratch_user_if_root();
    let dir = TempDir::new("hup");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = onscreen(&dir, &db, &user);
    let port = setup.port();
    let client0 = setup.client_cfg_path(0);
    let (d, notify, _) = start_until_ready(setup).await;

    // A good reload.
    let from = notify.len();
    let t0 = monotonic_usec_now();
    d.signal(Signal::SIGHUP);
    let (ri, reloading) = notify
        .expect(from, TEN_S, &d, "no RELOADING=1 after SIGHUP", |m| {
            m.has("RELOADING", "1")
        })
        .await;
    let t1 = monotonic_usec_now();
    let mono: u64 = reloading
        .get("MONOTONIC_USEC")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "RELOADING=1 must carry MONOTONIC_USEC=<µs> in the same datagram, got {:?}",
                reloading.text
            )
        });
    assert!(
        mono + 1_000_000 >= t0 && mono <= t1 + 1_000_000,
        "MONOTONIC_USEC={mono} is not CLOCK_MONOTONIC at the reload (between {t0} and {t1} µs)"
    );
    let (ready_i, ready) = notify
        .expect(ri + 1, TEN_S, &d, "no READY=1 after RELOADING=1", |m| {
            m.has("READY", "1")
        })
        .await;
    let status = ready.get("STATUS").unwrap_or_default();
    assert!(
        status.starts_with("reloaded"),
        "READY=1 after a good reload must carry STATUS=reloaded…, got {:?}",
        ready.text
    );
    expect_connect_ok(v4(port), "onscreen", ("key1", "secret1"), &d).await;

    // A broken client.cfg: RELOADING, then READY with "reload failed" naming the file;
    // the old configuration keeps working.
    std::fs::write(&client0, "{ \"name\": \"onscreen\", \"auth\": ").unwrap();
    let from = notify.len().max(ready_i + 1);
    d.signal(Signal::SIGHUP);
    let (ri, _) = notify
        .expect(
            from,
            TEN_S,
            &d,
            "no RELOADING=1 after the second SIGHUP",
            |m| m.has("RELOADING", "1"),
        )
        .await;
    let (_, ready) = notify
        .expect(ri + 1, TEN_S, &d, "no READY=1 after a failed reload", |m| {
            m.has("READY", "1")
        })
        .await;
    let status = ready.get("STATUS").unwrap_or_default();
    assert!(
        status.contains("reload failed") && status.contains("client0.cfg"),
        "after a reload with a broken client0.cfg, READY=1 must carry STATUS= containing \
         \"reload failed\" and the file name, got {:?}",
        ready.text
    );
    println!("STATUS={status}");
    expect_heartbeat(v4(port), &d).await;
    expect_connect_ok(v4(port), "onscreen", ("key1", "secret1"), &d).await;
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn sigterm_notifies_stopping_and_exits_zero() {
    let user = scratch_user_if_root();
    let dir = TempDir::new("term");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = onscreen(&dir, &db, &user);
    let port = setup.port();
    let (mut d, notify, ri) = start_until_ready(setup).await;
    expect_heartbeat(v4(port), &d).await;
    d.signal(Signal::SIGTERM);
    let stopping = notify
        .wait_for(ri + 1, Duration::from_secs(10), |m| m.has("STOPPING", "1"))
        .await;
    let status = d.wait_exit(Duration::from_secs(10)).await;
    assert!(
        stopping.is_some(),
        "no STOPPING=1 after SIGTERM; datagrams:\n{}\n{}",
        notify.dump(),
        d.logs()
    );
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM\n{}", d.logs()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}\n{}",
        d.logs()
    );
    drop(d);
    db.drop_db().await;
}

// ---------------------------------------------------------------------------
// Client configs as a directory or a glob
// ---------------------------------------------------------------------------

/// `<dir>/clients/` with alpha.cfg and beta.cfg, plus files that must NOT be loaded
/// (they are not valid client configs, so loading them would fail the start).
fn clients_dir(dir: &TempDir, db: &TestDb) -> PathBuf {
    let clients = dir.join("clients");
    std::fs::create_dir(&clients).unwrap();
    write_json(
        &clients.join("alpha.cfg"),
        &client_cfg("alpha", "ka", "sa", db),
    );
    write_json(
        &clients.join("beta.cfg"),
        &client_cfg("beta", "kb", "sb", db),
    );
    std::fs::write(clients.join("README.txt"), "not a config").unwrap();
    std::fs::write(clients.join("beta.cfg.dpkg-old"), "{ broken").unwrap();
    std::fs::write(clients.join("gamma.cfg~"), "{ broken").unwrap();
    clients
}

/// Starts the daemon with `setup` and waits for client alpha's Heartbeat.
async fn start_alpha(setup: DaemonSetup<'_>) -> (Daemon, u16) {
    let port = setup.port();
    let d = setup.spawn();
    expect_http_200(
        v4(port),
        "/backend/Heartbeat/alpha",
        START,
        &d,
        "the daemon did not come up",
    )
    .await;
    (d, port)
}

async fn expect_denied(port: u16, client: &str, auth: (&str, &str), d: &Daemon) {
    let r = get(
        v4(port),
        &format!("/backend/Connect/{client}/7/42"),
        Some(auth),
    )
    .await
    .unwrap();
    let body: Option<Value> = serde_json::from_str(&r.body).ok();
    assert!(
        r.status == 403 || body.as_ref().is_some_and(|b| b["status"] == 403),
        "Connect/{client} must be refused (403), got {} {}\n{}",
        r.status,
        r.body,
        d.logs()
    );
}

#[tokio::test]
async fn a_directory_argument_loads_every_cfg_file_in_it() {
    let user = scratch_user_if_root();
    let dir = TempDir::new("cfgdir");
    let db = TestDb::create(Schema::Ilias9).await;
    let clients = clients_dir(&dir, &db);
    let (d, port) = start_alpha(
        DaemonSetup::new(&dir)
            .scratch_user(&user)
            .client_arg(clients.display().to_string()),
    )
    .await;
    expect_connect_ok(v4(port), "alpha", ("ka", "sa"), &d).await;
    expect_connect_ok(v4(port), "beta", ("kb", "sb"), &d).await;
    expect_denied(port, "gamma", ("ka", "sa"), &d).await;
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn a_glob_argument_is_expanded_by_the_daemon() {
    let user = scratch_user_if_root();
    let dir = TempDir::new("cfgglob");
    let db = TestDb::create(Schema::Ilias9).await;
    let clients = clients_dir(&dir, &db);
    // Passed literally (no shell), as systemd passes ExecStart= arguments.
    let glob = format!("{}/*.cfg", clients.display());
    let (d, port) = start_alpha(DaemonSetup::new(&dir).scratch_user(&user).client_arg(glob)).await;
    expect_connect_ok(v4(port), "alpha", ("ka", "sa"), &d).await;
    expect_connect_ok(v4(port), "beta", ("kb", "sb"), &d).await;
    expect_denied(port, "gamma", ("ka", "sa"), &d).await;
    drop(d);
    db.drop_db().await;
}
