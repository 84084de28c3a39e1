//! Start-up while a client's database is unreachable: the server must come up,
//! answer Heartbeat, say in the log what it is waiting for, and connect once the
//! database appears.

mod common;

use std::time::{Duration, Instant};

use common::{Schema, TestDb, TestServer, free_port, http_get, server_cfg};
use serde_json::{Value, json};

#[tokio::test]
async fn serves_heartbeat_while_waiting_for_the_database() {
    let dead_port = free_port();
    let client = json!({
        "name": "waiting",
        "auth": {"key": "k", "secret": "s"},
        "database": {"type": "mysql", "host": "127.0.0.1", "port": dead_port,
                     "name": "ilias", "user": "ilias", "pass": "secret"},
    });
    let server = TestServer::start(server_cfg(free_port()), &[client]).await;
    let (status, _, body) = http_get(server.port, "/backend/Heartbeat/waiting", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).ok(),
        Some(json!({"status": 200}))
    );
    let logged = wait_for(&server, "waiting for the database of client waiting").await;
    assert!(logged, "no waiting message:\n{}", server.logs());
    assert!(
        !server.stderr().contains("secret"),
        "the password leaked into the log"
    );
}

#[tokio::test]
async fn connects_and_logs_the_generation_and_how_it_was_decided() {
    for (schema, pinned, expected) in [
        (
            Schema::Ilias8,
            None,
            &[
                "ILIAS 8 profile, detected from the database",
                "generation=8",
                "chatroom_prooms present",
            ][..],
        ),
        (
            Schema::Ilias11,
            None,
            &[
                "ILIAS 11 profile, detected from the database",
                "generation=11",
                "settings ilias_version = 11.6",
            ][..],
        ),
        (
            Schema::Ilias11,
            Some(10),
            &[
                "ilias_version in client.cfg differs from the database; using client.cfg",
                "ILIAS 10 profile",
                "how=\"ilias_version in client.cfg\"",
            ][..],
        ),
    ] {
        let db = TestDb::create(schema).await;
        let mut client = common::client_cfg("gen", "k", "s", &db);
        if let Some(pinned) = pinned {
            client["ilias_version"] = json!(pinned);
        }
        let server = TestServer::start(server_cfg(free_port()), &[client]).await;
        let decided = wait_for(&server, "profile").await;
        assert!(decided, "{}", server.logs());
        for text in expected {
            assert!(
                wait_for(&server, text).await,
                "{schema:?}/{pinned:?}: no {text:?} in\n{}",
                server.logs()
            );
        }
        drop(server);
        db.drop_db().await;
    }
}

async fn wait_for(server: &TestServer, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if server.stderr().contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
