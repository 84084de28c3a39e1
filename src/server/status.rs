//! What the server tells about each client: the authenticated status route
//! (`/backend/Status/<name>`, for ILIAS administrators, monitoring and `ilias-chat
//! --health`) and the gauges the metrics read at scrape time.

use std::sync::Arc;

use axum::extract::Extension;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;

use super::{ServedClient, ServedClients};
use crate::client::Client;
use crate::health::{
    ClientStatus, DatabaseStatus, IliasStatus, PerFeature, QueueStatus, Resources,
};
use crate::im::OnScreenChat;
use crate::metrics::{self, ClientGauges, Snapshot};
use crate::room::RoomChat;
use crate::socket;
use crate::store::{Reachability, Route};

/// The status route; it sits behind the backend's authentication like every route but
/// Heartbeat.
pub fn routes() -> Router {
    Router::new().route("/backend/status/{name}", get(status))
}

async fn status(
    Extension(client): Extension<Arc<Client>>,
    Extension(rooms): Extension<Arc<RoomChat>>,
    Extension(im): Extension<Arc<OnScreenChat>>,
) -> Response {
    let served = ServedClient { client, rooms, im };
    let report = client_status(&served);
    let code = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report)).into_response()
}

/// Sockets open in a namespace of the client.
fn sockets(client: &Client, namespace: &str) -> usize {
    client
        .io()
        .of(namespace)
        .map(|ns| ns.sockets().len())
        .unwrap_or(0)
}

/// The status of one client, as the route answers it.
pub fn client_status(served: &ServedClient) -> ClientStatus {
    let client = &served.client;
    let config = &client.config;
    let health = client.database_health().report();
    let mut problems = Vec::new();
    let (reachable, state, error) = match health.reachability {
        Reachability::Reachable => (true, "connected", None),
        Reachability::Unreachable(error) => {
            problems.push(format!(
                "the database has been unreachable for {} s: {error}",
                health.for_time.as_secs()
            ));
            (false, "unreachable", Some(error))
        }
        Reachability::Unknown => {
            problems.push("the database has not been connected yet".to_string());
            (false, "connecting", None)
        }
    };
    let source = if config.ilias_version.is_some() {
        "configured"
    } else if client.detected_generation().is_some() {
        "detected"
    } else {
        "assumed"
    };
    let backlog = client.write_status();
    let healthy = problems.is_empty();
    // Before the literal below: its temporaries (model guards) live until it ends.
    let resources = resources(served);
    ClientStatus {
        status: if healthy { 200 } else { 503 },
        healthy,
        problems,
        client: client.name().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: metrics::uptime().as_secs(),
        database: DatabaseStatus {
            reachable,
            state: state.to_string(),
            state_seconds: health.for_time.as_secs(),
            error,
            target: config.database.describe(),
            route: Route::of(&config.database).to_string(),
        },
        ilias: IliasStatus {
            generation: client.generation().to_string(),
            source: source.to_string(),
        },
        write_queue: QueueStatus {
            depth: backlog.pending,
            oldest_seconds: backlog.oldest.unwrap_or_default().as_secs_f64(),
        },
        sockets: PerFeature {
            room: sockets(client, &config.room_namespace()),
            im: sockets(client, &config.im_namespace()),
        },
        users: PerFeature {
            room: served.rooms.rooms().logged_in_user_count(),
            im: served.im.im().logged_in_user_count(),
        },
        resources,
    }
}

/// What the server holds for the client's browsers, and process-wide tasks.
fn resources(served: &ServedClient) -> Resources {
    let room = served.rooms.rooms().held();
    let (im_entries, im_listed) = served.im.im().held();
    let (replay_sockets, replay_marks) = served.rooms.replay_held();
    Resources {
        socket_entries: PerFeature {
            room: room.socket_entries,
            im: im_entries,
        },
        user_sockets: PerFeature {
            room: room.user_sockets,
            im: im_listed,
        },
        grace_timers: served.rooms.grace_timer_count(),
        replay_sockets,
        replay_marks,
        departed_users: room.departed_users,
        event_queues: socket::queue::live_event_queues(),
        tasks: tokio::runtime::Handle::try_current()
            .map(|runtime| runtime.metrics().num_alive_tasks())
            .unwrap_or(0),
    }
}

/// The scrape-time gauges of every client.
pub fn snapshot(clients: &ServedClients) -> Snapshot {
    Snapshot {
        clients: clients.all().iter().map(gauges).collect(),
    }
}

fn gauges(served: &ServedClient) -> ClientGauges {
    let client = &served.client;
    let config = &client.config;
    let (rooms, occupied_rooms, room_users) = {
        let state = served.rooms.rooms();
        (
            state.room_count(),
            state.occupied_room_count(),
            state.logged_in_user_count(),
        )
    };
    let (conversations, im_users) = {
        let state = served.im.im();
        (state.conversation_count(), state.logged_in_user_count())
    };
    let backlog = client.write_status();
    ClientGauges {
        client: client.name().to_string(),
        room_sockets: sockets(client, &config.room_namespace()),
        im_sockets: sockets(client, &config.im_namespace()),
        room_users,
        im_users,
        rooms,
        occupied_rooms,
        conversations,
        write_queue_depth: backlog.pending,
        write_queue_oldest: backlog.oldest.unwrap_or_default(),
        database_up: client.database_health().is_reachable(),
    }
}
