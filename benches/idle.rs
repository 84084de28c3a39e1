//! Issue 12: the memory of logged-in, idle browsers, against the release binary on
//! loopback.
//!
//!   room [N]   — N websocket browsers (default 10,000) in repository chat rooms, 50 per
//!                room, each as ILIAS does it: PHP's backend `Connect` and
//!                `EnterPrivateRoom` for the user, then the browser's Engine.IO
//!                websocket, the room namespace, `login` (answered `loggedIn`) and
//!                `enterRoom` (answered `private_room_entered`); then they idle.
//!   osc [N]    — N browsers of the on-screen chat (namespace, `login`), then idle.
//!
//! Reports the server's RSS before and after (and KiB per browser: the growth over N),
//! and its `/backend/status` resources; then all browsers leave at once (issue 11's
//! connection wave) and the RSS is read once more. Browsers are held by two worker processes
//! (`common::load`). MariaDB as for the tests (ILIAS_CHAT_TEST_DATABASE_URL); the
//! server's descriptor limit is this shell's (or ILIAS_CHAT_NOFILE, see
//! `common::load::start_bench_server`), which bounds N at the limit less about 215.
//!
//!   cargo bench --bench idle -- room 10000
//!   cargo bench --bench idle -- osc 10000

#[path = "../tests/common/mod.rs"]
mod common;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::load::{
    FIRST_USER, Opened, WorkerArgs, Workers, create_rooms, hold_browsers, start_bench_server,
    until_message,
};
use common::{EIO_WS_PATH, Schema, TempDir, TestDb, Ws, client_cfg, get, v4};
use common::{bench_start, proc_field, rss_kib};

const NAME: &str = "idle";
const KEY: &str = "idle";
const SECRET: &str = "idle-secret";
/// Browsers per chat room.
const PER_ROOM: usize = 50;
/// How long the browsers idle before the second measurement: past the login deadline
/// (60 s by default: its watcher lives that long) and two Engine.IO heartbeats (25 s).
const IDLE: Duration = Duration::from_secs(65);

/// How long the RSS is followed (every 10 s) after all browsers left: the departures'
/// grace period (15 s) and the trims after the wave are over by then.
const AFTER_LEAVING: Duration = Duration::from_secs(60);

/// Which chat the browsers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chat {
    Room,
    OnScreen,
}

impl Chat {
    fn parse(word: &str) -> Chat {
        match word {
            "room" => Chat::Room,
            "osc" => Chat::OnScreen,
            other => panic!("unknown scenario {other:?}: room [N] | osc [N]"),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Chat::Room => "room",
            Chat::OnScreen => "osc",
        }
    }
}

fn main() {
    let (args, runtime) = bench_start();
    match args.first().map(String::as_str) {
        Some("worker") => {
            let args = WorkerArgs::parse(&args[1..]);
            match Chat::parse(&args.extra[0]) {
                Chat::Room => runtime.block_on(hold_browsers(args, room_browser)),
                Chat::OnScreen => runtime.block_on(hold_browsers(args, osc_browser)),
            }
        }
        scenario => {
            let chat = Chat::parse(scenario.unwrap_or("room"));
            let count = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
            runtime.block_on(idle(chat, count));
        }
    }
}

/// The chat room of the `i`th browser (user `FIRST_USER + i`).
fn room_of(user: usize) -> usize {
    (user - FIRST_USER) / PER_ROOM + 1
}

async fn idle(chat: Chat, count: usize) {
    let db = TestDb::create(Schema::Ilias9).await;
    let rooms = count.div_ceil(PER_ROOM);
    create_rooms(&db, rooms, 1000).await;
    let dir = TempDir::new("bench-idle");
    let (daemon, port) = start_bench_server(&dir, NAME, client_cfg(NAME, KEY, SECRET, &db)).await;
    println!(
        "server {}",
        proc_field(daemon.pid, "limits", "Max open files")
    );
    // Let the start-up (rooms loaded, the database pool) settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(daemon.pid);
    println!("RSS before: {before} KiB");
    println!("status before: {}", status(port).await);

    let started = Instant::now();
    let mut workers = Workers::spawn(port, count, &[chat.word().to_owned()]);
    let Opened {
        joined,
        refused,
        failed,
    } = workers.opened();
    println!(
        "{count} {} browsers in {:.1} s: {joined} logged in{}, {refused} refused (503), {failed} failed",
        chat.word(),
        started.elapsed().as_secs_f64(),
        if chat == Chat::Room {
            " and in their room"
        } else {
            ""
        },
    );
    let per_browser = |rss: u64| (rss.saturating_sub(before)) as f64 / joined.max(1) as f64;
    let open = rss_kib(daemon.pid);
    println!(
        "RSS with them open: {open} KiB ({:.1} KiB per browser)",
        per_browser(open)
    );
    tokio::time::sleep(IDLE).await;
    let idle = rss_kib(daemon.pid);
    println!(
        "RSS after {} s idle: {idle} KiB ({:.1} KiB per browser); peak {}",
        IDLE.as_secs(),
        per_browser(idle),
        proc_field(daemon.pid, "status", "VmHWM:")
    );
    println!("status with them open: {}", status(port).await);
    let logs = daemon.logs();
    for line in logs.lines().take(10) {
        println!("  log: {line}");
    }
    // Issue 11's wave: all of them leave at once. The server trims the allocator's free
    // pages after such a wave (checked every 5 s).
    drop(workers);
    let left_at = Instant::now();
    let mut readings = Vec::new();
    while left_at.elapsed() < AFTER_LEAVING {
        tokio::time::sleep(Duration::from_secs(10)).await;
        readings.push(format!(
            "{} s: {} KiB",
            left_at.elapsed().as_secs(),
            rss_kib(daemon.pid)
        ));
    }
    let left = rss_kib(daemon.pid);
    println!(
        "RSS after they all left: {} ({:+.1} % of the RSS before at the last)",
        readings.join(", "),
        (left as f64 - before as f64) * 100.0 / before.max(1) as f64
    );
    println!("status after they left: {}", status(port).await);
    drop(daemon);
    db.drop_db().await;
}

/// The `resources` and socket counts of `/backend/status/<name>`.
async fn status(port: u16) -> String {
    match get(
        v4(port),
        &format!("/backend/status/{NAME}"),
        Some((KEY, SECRET)),
    )
    .await
    {
        Ok(r) => match serde_json::from_str::<serde_json::Value>(&r.body) {
            Ok(body) => format!(
                "sockets {} resources {}",
                body.get("sockets").cloned().unwrap_or_default(),
                body.get("resources").cloned().unwrap_or_default()
            ),
            Err(_) => format!("HTTP {} {}", r.status, r.body),
        },
        Err(error) => error,
    }
}

/// ILIAS PHP's backend call for `user`, retried while the server is still loading the
/// rooms.
async fn backend(server: SocketAddr, path: &str) -> io::Result<()> {
    let mut last = String::new();
    for _ in 0..50 {
        match get(server, path, Some((KEY, SECRET))).await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => last = format!("HTTP {} {}", r.status, r.body),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(io::Error::other(format!("{path}: {last}")))
}

/// A browser entering its chat room as ILIAS does it (see the module docs).
async fn room_browser(server: SocketAddr, local: IpAddr, user: usize) -> io::Result<Ws> {
    let room = room_of(user);
    backend(server, &format!("/backend/Connect/{NAME}/{room}/{user}")).await?;
    backend(
        server,
        &format!("/backend/EnterPrivateRoom/{NAME}/{room}/{user}"),
    )
    .await?;
    let namespace = format!("/{NAME}");
    let mut ws = Ws::connect(server, EIO_WS_PATH, Some(local)).await?;
    ws.join(&namespace).await?;
    ws.send_text(&format!("42{namespace},[\"login\",\"user{user}\",{user}]"))
        .await?;
    until_message(&mut ws, &format!("42{namespace},[\"loggedIn\"")).await?;
    ws.send_text(&format!("42{namespace},[\"enterRoom\",{room}]"))
        .await?;
    until_message(&mut ws, &format!("42{namespace},[\"private_room_entered\"")).await?;
    Ok(ws)
}

/// A browser of the on-screen chat: the namespace and `login` (answered `login`).
async fn osc_browser(server: SocketAddr, local: IpAddr, user: usize) -> io::Result<Ws> {
    let namespace = format!("/{NAME}-im");
    let mut ws = Ws::connect(server, EIO_WS_PATH, Some(local)).await?;
    ws.join(&namespace).await?;
    ws.send_text(&format!("42{namespace},[\"login\",{user},\"user{user}\"]"))
        .await?;
    until_message(&mut ws, &format!("42{namespace},[\"login\"")).await?;
    Ok(ws)
}
