//! Health: the authenticated status route `/backend/Status/<name>`, `ilias-chat
//! --health`, `STATUS=` and the metrics tell when a client's database is gone, while
//! Heartbeat keeps answering exactly what ILIAS PHP expects. The database is a
//! throwaway mariadbd of the test's own, stopped and started again under the server.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::systemd::NotifySocket;
use common::{
    DaemonSetup, Schema, TempDir, TestDb, ThrowawayMariadb, binary, client_cfg, free_port,
    http_get, v4, wait_http_200,
};
use serde_json::{Value, json};

const KEY: &str = "hk";
const SECRET: &str = "hs-secret";
const NAME: &str = "onscreen";

async fn status(port: u16) -> (u16, Value) {
    let (code, _, body) = http_get(
        port,
        &format!("/backend/Status/{NAME}"),
        Some((KEY, SECRET)),
    )
    .await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (code, json)
}

/// Polls the status route until `pred` holds (the server probes every 5 s).
async fn status_until(port: u16, what: &str, pred: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (code, json) = status(port).await;
        if pred(code, &json) {
            return (code, json);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: last status {code} {json}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scrape(port: u16) -> String {
    let (code, _, body) = http_get(port, "/metrics", None).await;
    assert_eq!(code, 200, "{body}");
    body
}

fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

fn health(dir: &TempDir) -> Output {
    Command::new(binary())
        .arg("--health")
        .arg(dir.join("server.cfg"))
        .arg(dir.join("client0.cfg"))
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_shows_in_status_health_and_metrics_but_not_in_heartbeat() {
    let mut mariadb = ThrowawayMariadb::start().await;
    let db = TestDb::create_on(mariadb.server(), Schema::Ilias9).await;
    let dir = TempDir::new("health");
    let notify = NotifySocket::bind(dir.path());
    let metrics_port = free_port();
    let mut setup = DaemonSetup::new(&dir)
        .server_key(
            "metrics",
            json!({"address": "127.0.0.1", "port": metrics_port}),
        )
        .client(client_cfg(NAME, KEY, SECRET, &db))
        .env(notify.env());
    if common::is_root() {
        setup = setup.user("root");
    }
    let port = setup.port();
    let mut daemon = setup.spawn();
    wait_http_200(
        v4(port),
        &format!("/backend/Heartbeat/{NAME}"),
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()));

    // Healthy.
    let (code, json) = status_until(port, "healthy", |c, _| c == 200).await;
    assert_eq!(code, 200);
    assert_eq!(json["healthy"], true, "{json}");
    assert_eq!(json["problems"], json!([]));
    assert_eq!(json["client"], NAME);
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["database"]["state"], "connected");
    assert_eq!(
        json["database"]["route"],
        format!("TCP 127.0.0.1:{}", mariadb.port)
    );
    assert_eq!(
        json["ilias"],
        json!({"generation": "9", "source": "detected"})
    );
    assert_eq!(json["sockets"], json!({"room": 0, "im": 0}));
    let out = health(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with(&format!(
            "client {NAME}: healthy (database connected over TCP 127.0.0.1:{}, ILIAS 9 detected",
            mariadb.port
        )),
        "{}",
        stdout(&out)
    );
    // Wrong credentials get what every backend route answers them.
    let (_, _, body) = http_get(port, &format!("/backend/Status/{NAME}"), Some((KEY, "x"))).await;
    assert_eq!(body, r#"{"status":403,"message":"Access denied"}"#);

    // The database goes away.
    mariadb.stop().await;
    let (_, json) = status_until(port, "unreachable", |c, _| c == 503).await;
    assert_eq!(json["healthy"], false, "{json}");
    assert_eq!(json["status"], 503);
    assert_eq!(json["database"]["state"], "unreachable");
    let problem = json["problems"][0].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("the database has been unreachable for "),
        "{json}"
    );
    // Heartbeat answers exactly as before: PHP must not think the chat server is down.
    for name in [NAME, "no-such-client"] {
        let (code, _, body) = http_get(port, &format!("/backend/Heartbeat/{name}"), None).await;
        assert_eq!((code, body.as_str()), (200, r#"{"status":200}"#));
    }
    let out = health(&dir);
    assert_eq!(out.status.code(), Some(69), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with(&format!(
            "client {NAME}: UNHEALTHY: the database has been unreachable for "
        )),
        "{}",
        stdout(&out)
    );
    let text = scrape(metrics_port).await;
    assert_eq!(
        metric(
            &text,
            &format!("ilias_chat_database_up{{client=\"{NAME}\"}}")
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            &format!("ilias_chat_database_errors_total{{client=\"{NAME}\",kind=\"connect\"}}")
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    notify
        .expect(
            0,
            Duration::from_secs(20),
            &daemon,
            "STATUS= names the unreachable database",
            |d| {
                d.get("STATUS")
                    .is_some_and(|s| s.contains(&format!("{NAME}: database unreachable")))
            },
        )
        .await;
    // Warned once, not on every probe (the next warning is due a minute later).
    let warnings = daemon
        .stderr()
        .matches(&format!("the database of client {NAME} is unreachable"))
        .count();
    assert_eq!(warnings, 1, "{}", daemon.logs());

    // Back again.
    mariadb.restart().await;
    let (_, json) = status_until(port, "healthy again", |c, _| c == 200).await;
    assert_eq!(json["database"]["state"], "connected");
    let text = scrape(metrics_port).await;
    assert_eq!(
        metric(
            &text,
            &format!("ilias_chat_database_reconnects_total{{client=\"{NAME}\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("ilias_chat_database_up{{client=\"{NAME}\"}}")
        ),
        Some(1.0)
    );
    assert!(
        daemon
            .stderr()
            .contains(&format!("the database of client {NAME} answers again"))
    );
    daemon.terminate_expecting_exit_0().await;
    db.drop_db().await;
}
