//! Backend routes PHP calls for chat rooms. ILIAS 9/10 paths are
//! `/<Action>/<name>/<roomId>/…`; ILIAS 8 inserts a sub-room id after the room id, so
//! both shapes are registered and told apart by their segment count.

use std::sync::Arc;

use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::model::{RegisterError, RoomKey};
use crate::client::Client;

/// The chat-room routes (paths are lower-case: the backend router folds action names).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/backend/connect/{name}/{room}/{user}", get(connect))
        .route(
            "/backend/enterprivateroom/{name}/{room}/{user}",
            get(enter_room),
        )
        .route(
            "/backend/enterprivateroom/{name}/{room}/{sub}/{user}",
            get(enter_sub_room),
        )
}

/// A JSON failure PHP can forward to the browser.
fn failure(reason: impl Into<String>) -> Json<Value> {
    Json(json!({"success": false, "reason": reason.into()}))
}

fn parse_id(text: &str, what: &str) -> Result<i64, Json<Value>> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| failure(format!("invalid {what}: {text:?}")))
}

/// `Connect/<name>/<roomId>/<userId>`: PHP announces a user about to open a room.
async fn connect(
    Extension(client): Extension<Arc<Client>>,
    Path((_name, _room, user)): Path<(String, String, String)>,
) -> Json<Value> {
    let user = match parse_id(&user, "user id") {
        Ok(user) => user,
        Err(error) => return error,
    };
    client.rooms().connect(user);
    tracing::info!(client = client.name(), user, "new subscriber");
    Json(json!({"status": 200}))
}

async fn enter_room(
    Extension(client): Extension<Arc<Client>>,
    Path((_name, room, user)): Path<(String, String, String)>,
) -> Json<Value> {
    register(&client, &room, "0", &user)
}

async fn enter_sub_room(
    Extension(client): Extension<Arc<Client>>,
    Path((_name, room, sub, user)): Path<(String, String, String, String)>,
) -> Json<Value> {
    register(&client, &room, &sub, &user)
}

/// `EnterPrivateRoom`: PHP allows the user into the room.
fn register(client: &Client, room: &str, sub: &str, user: &str) -> Json<Value> {
    let ids = parse_id(room, "room id").and_then(|room| {
        Ok((
            room,
            parse_id(sub, "sub-room id")?,
            parse_id(user, "user id")?,
        ))
    });
    let (room_id, sub_room, user) = match ids {
        Ok(ids) => ids,
        Err(error) => return error,
    };
    let key = RoomKey { room_id, sub_room };
    match client.rooms().register(key, user) {
        Ok(()) => Json(json!({"success": true})),
        Err(error @ (RegisterError::UnknownRoom | RegisterError::UnknownUser)) => {
            tracing::warn!(client = client.name(), room_id, user, %error, "EnterPrivateRoom refused");
            Json(json!({"success": false, "reason": error.to_string()}))
        }
    }
}
