//! Issue 12, Heartbeat: how many `GET /backend/Heartbeat/<name>` the release daemon
//! answers, with keep-alive and with `Connection: close` (as ILIAS PHP calls it), next
//! to a minimal hyper server answering the same body on the same machine in the same
//! run. The reference shows what the kernel, the load tool and hyper allow; the ratio
//! shows what is ours.
//!
//! Needs `wrk` (`apt-get install -y wrk`). Each case: wrk with 2 threads, 50
//! connections, SECONDS seconds (default 5), against the reference, then the daemon,
//! three rounds; the medians and their ratios are reported, also of the server's CPU
//! time per request (the reference's is the bench process's, which runs only it then).
//!
//!   cargo bench --bench heartbeat [-- SECONDS]

#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;

use common::load::start_bench_server;
use common::{TempDir, cpu_seconds, raise_own_limit, require_tool, unreachable_client, v4};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const NAME: &str = "bench";
const PATH: &str = "/backend/Heartbeat/bench";
/// Runs per case and server, alternating: the machine is shared, one run can be unlucky.
const ROUNDS: usize = 3;

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    raise_own_limit();
    let wrk = require_tool("wrk", "wrk");
    // The reference server gets its own runtime with as many threads as the daemon's.
    let reference = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reference_addr = reference.block_on(start_reference());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let dir = TempDir::new("bench-heartbeat");
    let (daemon, port) = runtime.block_on(start_bench_server(
        &dir,
        NAME,
        unreachable_client(NAME, "bench", "bench-secret"),
    ));
    let ours = v4(port);

    println!(
        "wrk -t2 -c50 -d{seconds}s --latency, GET {PATH}, {ROUNDS} rounds alternating the \
         servers; reference: minimal hyper 1 server in the bench process answering \
         {{\"status\":200}}"
    );
    println!("| case | round | server | req/s | p50 | p99 | server CPU µs per request |");
    println!("|---|---|---|---|---|---|---|");
    for (case, close) in [("keep-alive", false), ("Connection: close", true)] {
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut costs: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 1..=ROUNDS {
            for (i, (label, addr, pid)) in [
                ("reference", reference_addr, "self".to_owned()),
                ("ilias-chat", ours, daemon.pid.to_string()),
            ]
            .into_iter()
            .enumerate()
            {
                let cpu_before = cpu_seconds(&pid);
                let result = run_wrk(&wrk, addr, seconds, close);
                let cpu = cpu_seconds(&pid) - cpu_before;
                // CPU per request varies less than req/s on a shared machine.
                let micros = cpu * 1e6 / (result.rate * seconds as f64).max(1.0);
                println!(
                    "| {case} | {round} | {label} | {:.0} | {} | {} | {micros:.1} |",
                    result.rate, result.p50, result.p99
                );
                costs[i].push(micros);
                if result.non_2xx > 0 || result.errors > 0 {
                    println!(
                        "  ({label}: {} non-2xx answers, {} socket errors)",
                        result.non_2xx, result.errors
                    );
                }
                rates[i].push(result.rate);
            }
        }
        let (reference_rate, our_rate) = (median(&mut rates[0]), median(&mut rates[1]));
        let (reference_cost, our_cost) = (median(&mut costs[0]), median(&mut costs[1]));
        println!(
            "  {case}: median req/s reference {reference_rate:.0}, ilias-chat {our_rate:.0}, \
             ratio {:.2}; median CPU per request reference {reference_cost:.1} µs, \
             ilias-chat {our_cost:.1} µs, ratio {:.2}",
            our_rate / reference_rate.max(1.0),
            our_cost / reference_cost.max(0.001)
        );
    }
    let logs = daemon.logs();
    println!("daemon log lines: {}", logs.lines().count());
    for line in logs.lines().take(5) {
        println!("  log: {line}");
    }
    drop(daemon);
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// What wrk reported.
struct WrkResult {
    rate: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
    errors: u64,
}

fn run_wrk(wrk: &std::path::Path, addr: SocketAddr, seconds: u64, close: bool) -> WrkResult {
    let mut command = Command::new(wrk);
    command.args(["-t2", "-c50", &format!("-d{seconds}s"), "--latency"]);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    command.arg(format!("http://{addr}{PATH}"));
    let output = command.output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let count_after = |marker: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(marker))
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0)
    };
    WrkResult {
        rate: field("Requests/sec:").parse().unwrap_or(0.0),
        p50: field("50%"),
        p99: field("99%"),
        non_2xx: count_after("Non-2xx or 3xx responses:"),
        errors: count_after("Socket errors:"),
    }
}

/// A hyper 1 HTTP/1.1 server that answers every request with `{"status":200}`: the
/// least an HTTP server on tokio can do for Heartbeat.
async fn start_reference() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_request: Request<hyper::body::Incoming>| async {
                    let mut response =
                        Response::new(Full::new(Bytes::from_static(br#"{"status":200}"#)));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
