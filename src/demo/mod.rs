//! `ilias-chat --demo`: a complete server with generated configuration and a SQLite
//! database in a state directory, on 127.0.0.1, plus a small page where a person can
//! chat in a room and in direct (on-screen chat) conversations from two browser tabs.
//! The demo plays ILIAS PHP's part: when the page enters the room it announces the user
//! exactly as PHP would (`Connect`, then `EnterPrivateRoom`), through the same methods
//! the backend routes use, and it keeps its users in a small `usr_data` table with the
//! on-screen chat preference `chat_osc_accept_msg` = `y`, as ILIAS does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::config::{self, DatabaseConfig};
use crate::daemon::state::StateDir;
use crate::daemon::{listen, logging, signals};
use crate::room::RoomKey;
use crate::server::{Running, ServedClient, ServedClients, Server};
use crate::store::{Store, demo};

/// The instance name of the demo client.
pub const DEMO_CLIENT: &str = "demo";
/// The chat room the demo database contains.
pub const DEMO_ROOM: i64 = 1;

const SCHEMA: &str = include_str!("schema.sql");
const PAGE: &str = include_str!("page.html");

/// Runs the demo until Ctrl-C.
pub fn run(state_dir: Option<PathBuf>, listen_on: SocketAddr) -> anyhow::Result<()> {
    let state_dir = state_dir.unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state directory {}", state_dir.display()))?;
    let (server_path, client_path) = write_configs(&state_dir, listen_on)?;
    let server_cfg = config::load_server(&server_path)?;
    let client_cfgs = config::load_clients(&[client_path])?;
    logging::init_stderr(server_cfg.log_level);
    let listener = listen::bind(&server_cfg.address, server_cfg.port)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        prepare_database(&client_cfgs[0].database).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        signals::watch_signals(stop_tx, None)?;
        let state = StateDir::new(&state_dir);
        let server = Server::new(&server_cfg, client_cfgs, state, Some(Box::new(routes)));
        println!("ilias-chat demo: open http://{address}/demo/ in two browser tabs (Ctrl-C stops)");
        println!("ilias-chat demo: state in {}", state_dir.display());
        server
            .run(Running {
                listeners: vec![listener],
                tls: None,
                stop: stop_rx,
                reloads: None,
                metrics: None,
                sockets_outlive_us: false,
                socket_units: Vec::new(),
            })
            .await?;
        Ok(())
    })
}

fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ilias-chat-demo")
}

/// Writes server.cfg and client.cfg the way ILIAS would, plus the SQLite extension.
/// A fresh secret each start: nothing outside this process calls the backend.
fn write_configs(dir: &Path, listen_on: SocketAddr) -> anyhow::Result<(PathBuf, PathBuf)> {
    let server = json!({
        "address": listen_on.ip().to_string(),
        "port": listen_on.port(),
        "protocol": "http",
        "log_level": "info",
    });
    let client = json!({
        "name": DEMO_CLIENT,
        "auth": {"key": "demo", "secret": format!("{:x}", rand_u64())},
        "database": {"type": "sqlite", "name": dir.join("demo.sqlite")},
        "ilias_version": 9,
    });
    let server_path = dir.join("server.cfg");
    let client_path = dir.join("client.cfg");
    for (path, value) in [(&server_path, server), (&client_path, client)] {
        let text = serde_json::to_string_pretty(&value)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok((server_path, client_path))
}

/// A random number from the OS-seeded hasher (no extra crate for one secret).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}

async fn prepare_database(database: &DatabaseConfig) -> anyhow::Result<()> {
    let store = Store::connect(database).await?;
    demo::create_schema(&store, SCHEMA)
        .await
        .context("cannot create the demo schema")?;
    store.close().await;
    Ok(())
}

#[derive(Clone)]
struct DemoState {
    clients: Arc<ServedClients>,
}

fn routes(clients: Arc<ServedClients>) -> Router {
    let state = DemoState { clients };
    Router::new()
        .route("/", get(|| async { Redirect::to("/demo/") }))
        .route("/demo", get(|| async { Redirect::to("/demo/") }))
        .route("/demo/", get(page))
        .route("/demo/enter", get(enter))
        .route("/demo/users", get(users))
        .with_state(state)
}

/// How many past messages the room page shows on entering (ILIAS: the room's
/// `display_past_msgs` setting).
const PAST_MESSAGES: i64 = 20;

/// How long a request waits for the demo database at start-up.
const DATABASE_WAIT: Duration = Duration::from_secs(10);

fn unavailable(error: impl std::fmt::Display) -> Response {
    (
        http::StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": error.to_string()})),
    )
        .into_response()
}

/// The demo database, once connected and loaded.
async fn demo_store(state: &DemoState) -> Result<(ServedClient, Store), Response> {
    let Some(client) = state.clients.get(DEMO_CLIENT) else {
        return Err(unavailable("demo client missing"));
    };
    client.im.wait_ready(DATABASE_WAIT).await;
    match client.client.store().cloned() {
        Some(store) => Ok((client, store)),
        None => Err(unavailable("the demo database is not ready")),
    }
}

/// Everyone who entered the demo so far: `[{id, name}]` (the page's direct messages).
async fn users(State(state): State<DemoState>) -> Response {
    let store = match demo_store(&state).await {
        Ok((_, store)) => store,
        Err(response) => return response,
    };
    let rows = demo::users(&store).await;
    match rows {
        Ok(rows) => Json(
            rows.into_iter()
                .map(|(id, name)| json!({"id": id, "name": name}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(error) => unavailable(error),
    }
}

async fn page() -> Html<String> {
    Html(PAGE.replace("__SOCKET_IO_PATH__", "/socket.io"))
}

#[derive(Deserialize)]
struct EnterQuery {
    name: String,
}

/// The parts of a stored room message (`chatroom_history.message`) the page shows.
#[derive(Deserialize, Serialize)]
struct PastMessage {
    from: PastSender,
    /// As stored: escaped by the server for ILIAS 8/9 pages, like a live message.
    content: String,
    /// Stored as seconds or milliseconds (PHP accepts both); the page gets
    /// milliseconds, as in a live `message` event.
    timestamp: i64,
}

impl PastMessage {
    /// Ten digits are seconds until the year 2286.
    fn in_milliseconds(mut self) -> Self {
        if self.timestamp < 100_000_000_000 {
            self.timestamp = self.timestamp.saturating_mul(1000);
        }
        self
    }
}

#[derive(Deserialize, Serialize)]
struct PastSender {
    username: String,
}

/// The room's last messages as PHP renders them into the page; a row that does not
/// parse is left out (and logged), never the whole list.
async fn past_messages(store: &Store) -> Vec<PastMessage> {
    let rows = match demo::last_public_messages(store, DEMO_ROOM, PAST_MESSAGES).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "the demo page gets no past messages");
            return Vec::new();
        }
    };
    rows.iter()
        .filter_map(|row| match serde_json::from_str(row) {
            Ok(message) => Some(PastMessage::in_milliseconds(message)),
            Err(error) => {
                tracing::warn!(%error, "a stored demo room message is left out");
                None
            }
        })
        .collect()
}

/// What ILIAS PHP does when a user opens a chat room: `Connect`, `EnterPrivateRoom`,
/// then render the page with user id, room id, the room's last messages and the
/// socket.io coordinates.
async fn enter(State(state): State<DemoState>, Query(query): Query<EnterQuery>) -> Response {
    let name: String = query.name.trim().chars().take(60).collect();
    if name.is_empty() {
        return (
            http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "name is empty"})),
        )
            .into_response();
    }
    let (client, store) = match demo_store(&state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let user_id = match demo::user_id_of(&store, &name).await {
        Ok(id) => id,
        Err(error) => return unavailable(error),
    };
    // What PHP's UserConfigChange would tell the server after the user opted in.
    client.im.im().set_accepts_messages(user_id, true);
    let registered = {
        let mut rooms = client.rooms.rooms();
        rooms.add_room(RoomKey::main(DEMO_ROOM), "Demo room", None);
        rooms.set_title(RoomKey::main(DEMO_ROOM), "Demo room");
        rooms.connect(user_id);
        rooms.register(RoomKey::main(DEMO_ROOM), user_id)
    };
    if let Err(error) = registered {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": error.to_string()})),
        )
            .into_response();
    }
    Json(json!({
        "userId": user_id,
        "name": name,
        "roomId": DEMO_ROOM,
        "history": past_messages(&store).await,
        "namespace": format!("/{DEMO_CLIENT}"),
        "path": "/socket.io",
    }))
    .into_response()
}
