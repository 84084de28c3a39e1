//! Socket activation with a second socket named `metrics` (`FileDescriptorName=metrics`
//! in a .socket unit): the server serves the chat on the other socket and the
//! Prometheus metrics on that one, without a `metrics` key in server.cfg.

mod common;

use std::time::Duration;

use common::systemd::wait_activator_listening;
use common::{
    DaemonSetup, Schema, TempDir, TestDb, client_cfg, free_port, get, is_root, require_tool, v4,
    wait_http_200,
};

#[tokio::test]
async fn a_passed_socket_named_metrics_serves_the_metrics() {
    let activate = require_tool("systemd-socket-activate", "systemd");
    let db = TestDb::create(Schema::Ilias9).await;
    let dir = TempDir::new("mxsock");
    let chat_port = free_port();
    let mut metrics_port = free_port();
    while metrics_port == chat_port {
        metrics_port = free_port();
    }
    let mut setup = DaemonSetup::new(&dir).client(client_cfg("onscreen", "k", "s", &db));
    if is_root() {
        setup = setup.user("root");
    }
    let args: Vec<String> = vec![
        "-l".into(),
        v4(chat_port).to_string(),
        "-l".into(),
        v4(metrics_port).to_string(),
        "--fdname=chat:metrics".into(),
    ];
    let d = setup.spawn_via(&activate, &args);
    wait_activator_listening(&d, 2).await;
    wait_http_200(
        v4(chat_port),
        "/backend/Heartbeat/onscreen",
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.logs()));

    let metrics = get(v4(metrics_port), "/metrics", None)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.logs()));
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics.body.contains(&format!(
            "ilias_chat_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("ilias_chat_sockets{client=\"onscreen\",feature=\"room\"} 0")
    );
    // Each socket serves only its own part.
    let on_metrics = get(v4(metrics_port), "/backend/Heartbeat/onscreen", None).await;
    assert!(
        matches!(&on_metrics, Ok(r) if r.status == 404),
        "{on_metrics:?}"
    );
    let on_chat = get(v4(chat_port), "/metrics", None).await;
    assert!(matches!(&on_chat, Ok(r) if r.status == 404), "{on_chat:?}");
    drop(d);
    db.drop_db().await;
}
