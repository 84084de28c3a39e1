//! Thousands of browsers from worker processes, for the benches (`benches/edge.rs`,
//! `benches/idle.rs`). A bench runs its own executable again as [`WORKERS`] workers
//! (each has its own descriptor limit and local address, 127.0.0.2, 127.0.0.3, …);
//! a worker opens its share of browsers with the bench's own flow ([`hold_browsers`]),
//! prints one line "JOINED REFUSED FAILED" and holds them, answering pings, until the
//! bench closes its stdin ([`Workers`] does on drop).

use std::future::Future;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use serde_json::{Value, json};

use super::db::TestDb;
use super::files::TempDir;
use super::http::{v4, wait_http_200};
use super::process::Daemon;
use super::setup::DaemonSetup;
use super::tools::{is_root, require_tool};
use super::ws::Ws;

/// Worker processes a bench starts.
pub const WORKERS: usize = 2;

/// Connections a worker opens at once.
const IN_FLIGHT: usize = 256;

/// The first user id of the browsers: user `FIRST_USER + i` is the `i`th browser over
/// all workers.
pub const FIRST_USER: usize = 10_000;

/// Creates repository chat rooms 1..=`rooms` (history on) for a bench's browsers, room
/// `r` on the ILIAS object `first_object + r`.
pub async fn create_rooms(db: &TestDb, rooms: usize, first_object: usize) {
    let values: Vec<String> = (1..=rooms)
        .map(|room| format!("({room}, {}, 'repository', 1)", first_object + room))
        .collect();
    db.exec(&format!(
        "INSERT INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES {};",
        values.join(", ")
    ))
    .await;
}

/// Starts the release daemon for a bench with one client (`client`, named `name`),
/// logging warnings only, and waits until its backend answers.
///
/// It runs with this shell's descriptor limit, or `ILIAS_CHAT_NOFILE=soft:hard` through
/// prlimit; with `ILIAS_CHAT_BENCH_WRAP="program args…"` it runs under that program
/// (e.g. `heaptrack -o /tmp/idle`; the daemon's pid is then the wrapper's);
/// `ILIAS_CHAT_BENCH_SERVER='{"key": value, …}'` adds or replaces server.cfg keys (e.g.
/// `{"userlist_interval": 0}`, to compare with the original's pace in one session).
pub async fn start_bench_server(dir: &TempDir, name: &str, client: Value) -> (Daemon, u16) {
    let mut setup = DaemonSetup::new(dir)
        .server_key("log_level", json!("warning"))
        .client(client);
    if let Ok(extra) = std::env::var("ILIAS_CHAT_BENCH_SERVER") {
        let keys: Value = serde_json::from_str(&extra)
            .expect("ILIAS_CHAT_BENCH_SERVER is a JSON object of server.cfg keys");
        eprintln!("server.cfg keys from ILIAS_CHAT_BENCH_SERVER: {keys}");
        setup = setup.server_keys(keys);
    }
    if is_root() {
        setup = setup.user("root");
    }
    let port = setup.port();
    let wrap = std::env::var("ILIAS_CHAT_BENCH_WRAP").ok();
    let daemon = match (std::env::var("ILIAS_CHAT_NOFILE"), wrap) {
        (_, Some(wrap)) => {
            let mut words = wrap.split_whitespace().map(str::to_owned);
            let program = words.next().expect("ILIAS_CHAT_BENCH_WRAP names a program");
            setup.spawn_via(std::path::Path::new(&program), &words.collect::<Vec<_>>())
        }
        (Ok(limits), None) => setup.spawn_via(
            &require_tool("prlimit", "util-linux"),
            &[format!("--nofile={limits}"), "--".to_owned()],
        ),
        (Err(_), None) => setup.spawn(),
    };
    if let Err(error) = wait_http_200(
        v4(port),
        &format!("/backend/Heartbeat/{name}"),
        Duration::from_secs(30),
    )
    .await
    {
        panic!("server not ready: {error}\n{}", daemon.logs());
    }
    (daemon, port)
}

/// What the workers reported once all their browsers were opened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Opened {
    pub joined: u64,
    pub refused: u64,
    pub failed: u64,
}

/// The running workers; dropping them closes every browser.
pub struct Workers {
    children: Vec<Child>,
}

impl Workers {
    /// Starts [`WORKERS`] copies of this executable as
    /// `worker PORT COUNT FIRST_USER LOCAL_IP EXTRA…`, `count` browsers in all.
    pub fn spawn(port: u16, count: usize, extra: &[String]) -> Workers {
        let per_worker = count.div_ceil(WORKERS);
        let exe = std::env::current_exe().expect("current exe");
        let children = (0..WORKERS)
            .map(|w| {
                let n = per_worker.min(count.saturating_sub(w * per_worker));
                Command::new(&exe)
                    .args([
                        "worker".to_owned(),
                        port.to_string(),
                        n.to_string(),
                        (FIRST_USER + w * per_worker).to_string(),
                        format!("127.0.0.{}", w + 2),
                    ])
                    .args(extra)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("worker")
            })
            .collect();
        Workers { children }
    }

    /// Waits until every worker has opened its browsers.
    pub fn opened(&mut self) -> Opened {
        let mut total = Opened::default();
        for child in &mut self.children {
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            BufReader::new(stdout)
                .read_line(&mut line)
                .expect("worker line");
            let numbers: Vec<u64> = line
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            if let [j, r, f] = numbers[..] {
                total.joined += j;
                total.refused += r;
                total.failed += f;
            }
        }
        total
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A worker's command line (after `worker`).
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    pub server: SocketAddr,
    pub count: usize,
    pub first_user: usize,
    pub local: IpAddr,
    /// What the bench added ([`Workers::spawn`]'s `extra`).
    pub extra: Vec<String>,
}

impl WorkerArgs {
    pub fn parse(args: &[String]) -> WorkerArgs {
        let port: u16 = args[0].parse().expect("port");
        WorkerArgs {
            server: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
            count: args[1].parse().expect("count"),
            first_user: args[2].parse().expect("first user"),
            local: args[3].parse().expect("local ip"),
            extra: args[4..].to_vec(),
        }
    }
}

/// Opens `args.count` browsers with `open(server, local, user)`, at most [`IN_FLIGHT`]
/// at once, prints "JOINED REFUSED FAILED" (an error mentioning 503 is a refusal), then
/// holds them, answering pings, until stdin closes.
pub async fn hold_browsers<F, Fut>(args: WorkerArgs, open: F)
where
    F: Fn(SocketAddr, IpAddr, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = io::Result<Ws>> + Send,
{
    let joined = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for i in 0..args.count {
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let (joined, refused, failed, done, open) = (
            joined.clone(),
            refused.clone(),
            failed.clone(),
            done_tx.clone(),
            open.clone(),
        );
        let (server, local, user) = (args.server, args.local, args.first_user + i);
        tokio::spawn(async move {
            let ws = open(server, local, user).await;
            drop(permit);
            let mut ws = match ws {
                Ok(ws) => {
                    joined.fetch_add(1, Ordering::Relaxed);
                    ws
                }
                Err(error) if error.to_string().contains("503") => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    let _ = done.send(());
                    return;
                }
                Err(error) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("browser {user}: {error}");
                    }
                    let _ = done.send(());
                    return;
                }
            };
            let _ = done.send(());
            // Hold it: answer pings (and read what is sent) until the server closes it.
            while let Ok(Some(_)) = ws.recv_eio().await {}
        });
    }
    drop(done_tx);
    for _ in 0..args.count {
        if done_rx.recv().await.is_none() {
            break;
        }
    }
    println!(
        "{} {} {}",
        joined.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    let _ = std::io::stdout().flush();
    // Until the bench closes stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 16];
        let _ = std::io::Read::read(&mut std::io::stdin(), &mut buf);
    })
    .await;
}

/// Reads Engine.IO messages until one starts with `prefix` (pings answered).
pub async fn until_message(ws: &mut Ws, prefix: &str) -> io::Result<String> {
    loop {
        match ws.recv_eio().await? {
            Some(message) if message.starts_with(prefix) => return Ok(message),
            Some(_) => continue,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("closed before {prefix:?}"),
                ));
            }
        }
    }
}
