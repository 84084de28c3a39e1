//! Issue 12, connect ramp: BROWSERS chat-room browsers (default 10,000) in rooms of
//! PER_ROOM (default 50) against the release daemon on loopback.
//!
//! First ILIAS PHP announces every user as it does when a page is loaded (`Connect`,
//! then `EnterPrivateRoom`, each on a fresh connection, 100 calls at a time); that phase
//! is timed on its own. Then two worker processes open the browsers, 100 at a time in
//! all: websocket, Engine.IO open, the room namespace, `login` → `loggedIn`,
//! `enterRoom` → `private_room_entered`. Every entry sends the room's user list to
//! everyone in it (the protocol); a browser counts as settled when it has seen the
//! user list of its full room. Reports the time until every browser had entered and
//! until every one had settled, connections/s, the server's CPU seconds (utime + stime)
//! against the load client's (both workers) and their ratio, and the server's RSS.
//!
//! The workers' browsers do not parse what they receive (they only look for the events
//! they wait for); with `parse` they parse every socket.io message as JSON, as a
//! browser's socket.io client does, which shows the CPU of a client that reads what it
//! gets.
//!
//! MariaDB as for the tests (ILIAS_CHAT_TEST_DATABASE_URL).
//!
//!   cargo bench --bench ramp [-- BROWSERS [PER_ROOM [parse]]]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::load::{FIRST_USER, create_rooms, start_bench_server};
use common::{
    EIO_WS_PATH, Schema, TempDir, TestDb, Ws, bench_start, client_cfg, cpu_seconds, cpu_times, get,
    proc_field, v4,
};

const NAME: &str = "bench";
const KEY: &str = "bench";
const SECRET: &str = "bench-secret";
const NAMESPACE: &str = "/bench";
const WORKERS: usize = 2;
/// Browsers (and, in the PHP phase, backend calls) under way at once, in all.
const IN_FLIGHT: usize = 100;
/// How long the workers wait for every browser to see its full room.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let (args, runtime) = bench_start();
    match args.first().map(String::as_str) {
        Some("worker") => runtime.block_on(worker(Plan::from_args(&args[1..]))),
        _ => {
            let count = args.first().and_then(|n| n.parse().ok()).unwrap_or(10_000);
            let per_room = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(50);
            let parse = args.get(2).is_some_and(|a| a == "parse");
            runtime.block_on(ramp(count, per_room, parse));
        }
    }
}

/// The room of the `index`-th browser: rooms fill side by side, as on a campus.
fn room_of(index: usize, rooms: usize) -> usize {
    1 + index % rooms
}

async fn ramp(count: usize, per_room: usize, parse: bool) {
    let rooms = count.div_ceil(per_room);
    let db = TestDb::create(Schema::Ilias9).await;
    create_rooms(&db, rooms, 5000).await;
    let dir = TempDir::new("bench-ramp");
    let (daemon, port) = start_bench_server(&dir, NAME, client_cfg(NAME, KEY, SECRET, &db)).await;
    let server = daemon.pid.to_string();
    println!(
        "{count} browsers, {rooms} rooms of {per_room}, load client {}; RSS at start: {}",
        if parse {
            "parsing every message as JSON"
        } else {
            "not parsing messages"
        },
        proc_field(daemon.pid, "status", "VmRSS")
    );

    let cpu_before = cpu_seconds(&server);
    let started = Instant::now();
    announce_users(port, count, rooms).await;
    println!(
        "ILIAS PHP: {} backend calls (Connect, EnterPrivateRoom; Connection: close, {IN_FLIGHT} at a time) in {:.2} s, server CPU {:.2} s",
        2 * count,
        started.elapsed().as_secs_f64(),
        cpu_seconds(&server) - cpu_before
    );

    let cpu_before = cpu_seconds(&server);
    let (user_before, system_before) = cpu_times(&server);
    let exe = std::env::current_exe().expect("current exe");
    let per_worker = count.div_ceil(WORKERS);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let plan = Plan {
            port,
            first: w * per_worker,
            count: per_worker.min(count - w * per_worker),
            rooms,
            per_room,
            in_flight: IN_FLIGHT / WORKERS,
            parse,
            local: IpAddr::from([127, 0, 0, 2 + w as u8]),
        };
        let child = Command::new(&exe)
            .arg("worker")
            .args(plan.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("worker");
        workers.push(child);
    }
    let mut lines: Vec<_> = workers
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")))
        .collect();

    let entered = read_reports(&mut lines, "entered");
    let entered_at = started.elapsed().as_secs_f64();
    let server_cpu_entered = cpu_seconds(&server) - cpu_before;
    let settled = read_reports(&mut lines, "settled");
    let settled_at = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(&server) - cpu_before;
    let (user, system) = cpu_times(&server);

    let sum = |reports: &[Report], f: fn(&Report) -> f64| reports.iter().map(f).sum::<f64>();
    let client_cpu_entered = sum(&entered, |r| r.cpu);
    let client_cpu = sum(&settled, |r| r.cpu);
    println!(
        "entered: {:.0} of {count} in {entered_at:.2} s ({:.0} browsers/s), {:.0} failed; \
         server CPU {server_cpu_entered:.2} s, load client CPU {client_cpu_entered:.2} s, ratio {:.2}",
        sum(&entered, |r| r.browsers),
        sum(&entered, |r| r.browsers) / entered_at,
        sum(&entered, |r| r.failed),
        server_cpu_entered / client_cpu_entered.max(0.01)
    );
    println!(
        "settled (every browser saw its full room's user list): {:.0} of {count} in {settled_at:.2} s \
         ({:.0} browsers/s); {:.0} frames, {:.1} MB received; server CPU {server_cpu:.2} s, \
         load client CPU {client_cpu:.2} s, ratio server/client {:.2}",
        sum(&settled, |r| r.browsers),
        sum(&settled, |r| r.browsers) / settled_at,
        sum(&settled, |r| r.frames),
        sum(&settled, |r| r.bytes) / 1e6,
        server_cpu / client_cpu.max(0.01)
    );
    println!(
        "server CPU: {:.2} s user, {:.2} s kernel (on loopback the kernel time of a send \
         includes the receiving side's TCP processing)",
        user - user_before,
        system - system_before,
    );
    println!(
        "RSS with {count} browsers in their rooms: {}",
        proc_field(daemon.pid, "status", "VmRSS")
    );
    let logs = daemon.logs();
    println!("daemon log lines: {}", logs.lines().count());
    for line in logs.lines().take(10) {
        println!("  log: {line}");
    }
    for mut child in workers {
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(daemon);
    db.drop_db().await;
}

/// ILIAS PHP's calls for every user: `Connect`, then `EnterPrivateRoom`, each on its
/// own connection, [`IN_FLIGHT`] users at a time.
async fn announce_users(port: u16, count: usize, rooms: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..count {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        tasks.spawn(async move {
            let (room, user) = (room_of(index, rooms), FIRST_USER + index);
            for action in ["Connect", "EnterPrivateRoom"] {
                let path = format!("/backend/{action}/{NAME}/{room}/{user}");
                match get(v4(port), &path, Some((KEY, SECRET))).await {
                    Ok(r) if r.status == 200 && !r.body.contains("\"success\":false") => {}
                    Ok(r) => panic!("{path}: HTTP {} {}", r.status, r.body),
                    Err(error) => panic!("{path}: {error}"),
                }
            }
            drop(permit);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("announce task");
    }
}

/// One worker line: `<what> BROWSERS FAILED FRAMES BYTES CPU_SECONDS`.
struct Report {
    browsers: f64,
    failed: f64,
    frames: f64,
    bytes: f64,
    cpu: f64,
}

fn read_reports(lines: &mut [BufReader<ChildStdout>], what: &str) -> Vec<Report> {
    lines
        .iter_mut()
        .map(|reader| {
            let mut line = String::new();
            reader.read_line(&mut line).expect("worker line");
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some(what), "worker said {line:?}");
            let n: Vec<f64> = words.filter_map(|w| w.parse().ok()).collect();
            let [browsers, failed, frames, bytes, cpu] = n[..] else {
                panic!("worker line {line:?}");
            };
            Report {
                browsers,
                failed,
                frames,
                bytes,
                cpu,
            }
        })
        .collect()
}

/// What one worker process does.
struct Plan {
    port: u16,
    /// Index of its first browser among all.
    first: usize,
    count: usize,
    rooms: usize,
    per_room: usize,
    in_flight: usize,
    /// Whether the browsers parse every message (see the module documentation).
    parse: bool,
    local: IpAddr,
}

impl Plan {
    fn to_args(&self) -> Vec<String> {
        [
            self.port.to_string(),
            self.first.to_string(),
            self.count.to_string(),
            self.rooms.to_string(),
            self.per_room.to_string(),
            self.in_flight.to_string(),
            self.parse.to_string(),
            self.local.to_string(),
        ]
        .into()
    }

    fn from_args(args: &[String]) -> Plan {
        let n = |i: usize| -> usize { args[i].parse().expect("worker argument") };
        Plan {
            port: n(0) as u16,
            first: n(1),
            count: n(2),
            rooms: n(3),
            per_room: n(4),
            in_flight: n(5),
            parse: args[6] == "true",
            local: args[7].parse().expect("local address"),
        }
    }
}

/// What a worker's browsers received.
#[derive(Default)]
struct Received {
    parse: bool,
    frames: AtomicU64,
    bytes: AtomicU64,
}

impl Received {
    /// Counts a message; whether it is the user list of a room of `per_room` users.
    fn note(&self, message: &str, per_room: usize) -> bool {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(message.len() as u64, Ordering::Relaxed);
        if self.parse
            && let Some((_, json)) = message.split_once(',')
        {
            // What a browser's socket.io client does with every message.
            let _ = std::hint::black_box(serde_json::from_str::<serde_json::Value>(json));
        }
        // Counting names is enough: the bench's browsers all log in with one.
        message.starts_with(&format!("42{NAMESPACE},[\"userlist\""))
            && message.matches("\"username\"").count() == per_room
    }

    fn line(&self, what: &str, browsers: u64, failed: u64) {
        println!(
            "{what} {browsers} {failed} {} {} {:.3}",
            self.frames.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            cpu_seconds("self")
        );
        let _ = std::io::stdout().flush();
    }
}

/// `worker …` (see [`Plan`]): opens its browsers, prints an `entered` line when every
/// one is in its room (or failed) and a `settled` line when every one saw its full
/// room, then holds them until stdin closes.
async fn worker(plan: Plan) {
    let received = Arc::new(Received {
        parse: plan.parse,
        ..Received::default()
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(plan.in_flight));
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let (settled_tx, mut settled_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let server = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), plan.port);
    for i in 0..plan.count {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let index = plan.first + i;
        let (room, user) = (room_of(index, plan.rooms), FIRST_USER + index);
        let (received, entered, settled) =
            (received.clone(), entered_tx.clone(), settled_tx.clone());
        let (local, per_room) = (plan.local, plan.per_room);
        tokio::spawn(async move {
            let browser = enter(server, local, user, room, &received, per_room).await;
            drop(permit);
            let (mut ws, mut full) = match browser {
                Ok(browser) => browser,
                Err(error) => {
                    eprintln!("browser {user}: {error}");
                    let _ = entered.send(false);
                    return;
                }
            };
            let _ = entered.send(true);
            let mut reported = false;
            loop {
                if full && !reported {
                    let _ = settled.send(());
                    reported = true;
                }
                match ws.recv_eio().await {
                    Ok(Some(message)) => full = received.note(&message, per_room),
                    _ => return,
                }
            }
        });
    }
    drop(entered_tx);
    drop(settled_tx);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..plan.count {
        match entered_rx.recv().await {
            Some(true) => ok += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    received.line("entered", ok, failed);
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    let mut settled = 0;
    while settled < ok {
        match tokio::time::timeout_at(deadline, settled_rx.recv()).await {
            Ok(Some(())) => settled += 1,
            _ => break,
        }
    }
    received.line("settled", settled, ok - settled);
    // Until the bench closes stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 16];
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut buf);
    })
    .await;
}

/// One browser: websocket, the room namespace, `login`, `enterRoom`. Returns the
/// connection and whether it already saw its full room.
async fn enter(
    server: SocketAddr,
    local: IpAddr,
    user: usize,
    room: usize,
    received: &Received,
    per_room: usize,
) -> std::io::Result<(Ws, bool)> {
    let mut ws = Ws::connect(server, EIO_WS_PATH, Some(local)).await?;
    ws.join(NAMESPACE).await?;
    ws.send_text(&format!("42{NAMESPACE},[\"login\",\"user{user}\",{user}]"))
        .await?;
    let mut full = wait_for(&mut ws, "loggedIn", received, per_room).await?;
    ws.send_text(&format!("42{NAMESPACE},[\"enterRoom\",{room}]"))
        .await?;
    full |= wait_for(&mut ws, "private_room_entered", received, per_room).await?;
    Ok((ws, full))
}

/// Reads until the event `name` arrives; whether a full user list passed meanwhile.
async fn wait_for(
    ws: &mut Ws,
    name: &str,
    received: &Received,
    per_room: usize,
) -> std::io::Result<bool> {
    let wanted = format!("42{NAMESPACE},[\"{name}\"");
    let mut full = false;
    loop {
        match ws.recv_eio().await? {
            Some(message) if message.starts_with(&wanted) => return Ok(full),
            Some(message) => full |= received.note(&message, per_room),
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("closed before `{name}`"),
                ));
            }
        }
    }
}
