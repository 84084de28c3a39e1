//! Issue 11 goals, "hardened at the edges", against the release binary on loopback:
//!
//!   campus [N]   — N websocket browsers (default 20,000) join the on-screen chat and
//!                  log in, held by two worker processes (each has its own descriptor
//!                  limit); while they are open, ILIAS PHP's backend calls (Heartbeat,
//!                  Connect, EnterPrivateRoom, each on a fresh connection as PHP makes
//!                  them) are timed for 30 s. Reports how many browsers were accepted,
//!                  refused (503) or failed, the backend latency, the server's RSS and
//!                  its descriptor limit.
//!   slowloris    — 50 connections sending one header byte a second, with the default
//!                  `header_timeout`: when the last one is closed.
//!
//! The server runs with the descriptor limit of this shell (raise it with `ulimit -n`;
//! the packaged unit sets LimitNOFILE=65536), or with `ILIAS_CHAT_NOFILE=soft:hard`
//! through prlimit. MariaDB as for the tests (ILIAS_CHAT_TEST_DATABASE_URL).
//!
//!   cargo bench --bench edge -- campus 20000
//!   cargo bench --bench edge -- slowloris

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::load::{Opened, WorkerArgs, Workers, hold_browsers, start_bench_server, until_message};
use common::{Daemon, EIO_WS_PATH, Schema, TempDir, TestDb, Ws, client_cfg, get, v4};
use common::{bench_start, latency_summary, proc_field};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "bench";
const KEY: &str = "bench";
const SECRET: &str = "bench-secret";
const NAMESPACE: &str = "/bench-im";

fn main() {
    let (args, runtime) = bench_start();
    match args.first().map(String::as_str) {
        Some("worker") => runtime.block_on(hold_browsers(WorkerArgs::parse(&args[1..]), browser)),
        Some("slowloris") => runtime.block_on(slowloris()),
        Some("campus") | None => {
            let count = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
            runtime.block_on(campus(count));
        }
        Some(other) => panic!("unknown scenario {other:?}: campus [N] | slowloris"),
    }
}

async fn start_server(dir: &TempDir, db: Option<&TestDb>) -> (Daemon, u16) {
    let client = match db {
        Some(db) => client_cfg(NAME, KEY, SECRET, db),
        None => common::unreachable_client(NAME, KEY, SECRET),
    };
    start_bench_server(dir, NAME, client).await
}

async fn campus(count: usize) {
    let db = TestDb::create(Schema::Ilias9).await;
    db.exec(
        "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) \
         VALUES (1, 1001, 'repository', 1);",
    )
    .await;
    db.exec(
        "REPLACE INTO chatroom_users (room_id, user_id, userdata, connected) \
         VALUES (1, 1, '{\"login\":\"php\",\"id\":1}', UNIX_TIMESTAMP());",
    )
    .await;
    let dir = TempDir::new("bench-edge");
    let (daemon, port) = start_server(&dir, Some(&db)).await;
    println!(
        "server {}",
        proc_field(daemon.pid, "limits", "Max open files")
    );
    println!(
        "RSS at start: {}",
        proc_field(daemon.pid, "status", "VmRSS")
    );

    let before = backend_latencies(port, Duration::from_secs(5)).await;
    println!("backend, no browsers: {}", latency_summary(&before));

    let started = Instant::now();
    let mut workers = Workers::spawn(port, count, &[]);
    let Opened {
        joined,
        refused,
        failed,
    } = workers.opened();
    println!(
        "{count} browsers in {:.1} s: {joined} joined and logged in, {refused} refused (503), {failed} failed",
        started.elapsed().as_secs_f64()
    );
    let during = backend_latencies(port, Duration::from_secs(30)).await;
    println!(
        "backend, {joined} browsers open: {}",
        latency_summary(&during)
    );
    println!(
        "RSS with browsers open: {}",
        proc_field(daemon.pid, "status", "VmRSS")
    );
    let logs = daemon.logs();
    println!(
        "log lines: {} (\"connection limit reached\": {}, \"accept failed\": {})",
        logs.lines().count(),
        logs.lines()
            .filter(|l| l.contains("connection limit reached"))
            .count(),
        logs.lines().filter(|l| l.contains("accept failed")).count(),
    );
    for line in logs.lines().take(20) {
        println!("  log: {line}");
    }
    drop(workers);
    drop(daemon);
    db.drop_db().await;
}

/// Times ILIAS PHP's calls for `window`, one every 50 ms, each on a fresh connection.
async fn backend_latencies(port: u16, window: Duration) -> Vec<Duration> {
    let calls = [
        "/backend/Heartbeat/bench".to_owned(),
        "/backend/Connect/bench/1/1".to_owned(),
        "/backend/EnterPrivateRoom/bench/1/1".to_owned(),
    ];
    let end = Instant::now() + window;
    let mut took = Vec::new();
    let mut i = 0;
    while Instant::now() < end {
        let path = &calls[i % calls.len()];
        i += 1;
        let started = Instant::now();
        match get(v4(port), path, Some((KEY, SECRET))).await {
            Ok(r) if r.status == 200 => {
                let elapsed = started.elapsed();
                if elapsed > Duration::from_millis(100) {
                    println!(
                        "  {path}: {:.1} ms, {:.1} s into the window",
                        elapsed.as_secs_f64() * 1000.0,
                        (window - (end - started)).as_secs_f64()
                    );
                }
                took.push(elapsed);
            }
            Ok(r) => println!("{path}: HTTP {} {}", r.status, r.body),
            Err(error) => println!("{path}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took
}

/// A browser of the on-screen chat: Engine.IO open, the namespace, `login` answered.
async fn browser(addr: SocketAddr, local: IpAddr, user: usize) -> std::io::Result<Ws> {
    let mut ws = Ws::connect(addr, EIO_WS_PATH, Some(local)).await?;
    ws.join(NAMESPACE).await?;
    ws.send_text(&format!("42{NAMESPACE},[\"login\",{user},\"user{user}\"]"))
        .await?;
    // The on-screen chat answers a login with `login` (the participant).
    until_message(&mut ws, &format!("42{NAMESPACE},[\"login\"")).await?;
    Ok(ws)
}

async fn slowloris() {
    let dir = TempDir::new("bench-slowloris");
    let (daemon, port) = start_server(&dir, None).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        tasks.spawn(async move {
            let mut stream = TcpStream::connect(v4(port)).await.expect("connect");
            let opened = Instant::now();
            let header = b"GET /backend/Heartbeat/bench HTTP/1.1\r\nHost: chat\r\nX-Slow: yes\r\n";
            let mut buf = [0u8; 256];
            for byte in header.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return Some(opened.elapsed());
                }
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(opened.elapsed()),
                    _ => {}
                }
                if opened.elapsed() > Duration::from_secs(120) {
                    return None;
                }
            }
            None
        });
    }
    let mut closed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        closed.push(result.expect("task"));
    }
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    let mut times: Vec<Duration> = closed.into_iter().flatten().collect();
    times.sort();
    println!(
        "50 slowloris connections (header_timeout {} s, the default): {} closed, first after {:.1} s, last after {:.1} s, {} still open after 120 s (run {:.0} s)",
        ilias_chat::config::EdgeLimits::DEFAULT_HEADER_TIMEOUT.as_secs(),
        times.len(),
        times.first().copied().unwrap_or_default().as_secs_f64(),
        times.last().copied().unwrap_or_default().as_secs_f64(),
        still_open,
        started.elapsed().as_secs_f64()
    );
    drop(daemon);
}
