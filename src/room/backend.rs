//! The backend routes PHP calls for chat rooms. ILIAS 9+ paths are
//! `/<Action>/<name>/<roomId>/…`; ILIAS 8 inserts a sub-room id after the room id.
//! Each action is one handler registered for both shapes ([`RoomActions::room_action`]); the typed
//! address [`RoomRequest`] tells them apart. Answers are always JSON with HTTP 200:
//! PHP forwards them to the browser, which shows `reason`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Extension, FromRequestParts, Path};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::request::Parts;
use serde_json::{Value, json};

use super::model::{RegisterError, RoomKey};
use super::persist::ensure_room;
use super::{RoomChat, clear, enter, invite, kick, private_room};

/// The answer of every room action.
pub(super) type Reply = Json<Value>;

/// How room handlers receive their client's chat rooms (put there by the backend's
/// authentication layer).
pub(super) type Chat = Extension<Arc<RoomChat>>;

/// The chat-room routes (paths are lower-case: the backend router folds action names).
pub fn routes() -> Router {
    Router::new()
        .route("/backend/connect/{name}/{room}/{user}", get(enter::connect))
        .route(
            "/backend/deleteprivateroom/{name}/{room}/{sub}/{user}",
            get(private_room::delete),
        )
        .route("/backend/getrooms/{name}", get(get_rooms))
        .route("/backend/post/{name}/{room}", get(post))
        .room_action("createprivateroom", "{owner}/{title}", private_room::create)
        .room_action("enterprivateroom", "{user}", enter::register)
        .room_action("leaveprivateroom", "{user}", private_room::leave)
        .room_action("inviteprivateroom", "{host}/{invitee}", invite::invite)
        .room_action("clearmessages", "{actor}", clear::clear)
        .room_action("kick", "{user}", kick::kick)
        .room_action("ban", "{user}", kick::ban)
}

/// Room actions exist in two path shapes.
trait RoomActions {
    /// Registers `handler` for the ILIAS 9+ path `/<action>/<name>/<room>/<tail>` and
    /// for the ILIAS 8 path with a sub-room id after the room id.
    fn room_action<H: Handler<T, ()>, T: 'static>(
        self,
        action: &str,
        tail: &str,
        handler: H,
    ) -> Self;
}

impl RoomActions for Router {
    fn room_action<H: Handler<T, ()>, T: 'static>(
        self,
        action: &str,
        tail: &str,
        handler: H,
    ) -> Self {
        ["", "{sub}/"].into_iter().fold(self, |router, sub| {
            let path = format!("/backend/{action}/{{name}}/{{room}}/{sub}{tail}");
            router.route(&path, get(handler.clone()))
        })
    }
}

/// A JSON failure PHP can forward to the browser.
pub(super) fn failure(reason: impl Into<String>) -> Reply {
    Json(json!({"success": false, "reason": reason.into()}))
}

/// Either answer of a handler that stops at the first failure.
pub(super) fn answer(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|failure| failure)
}

pub(super) fn parse_id(text: &str, what: &str) -> Result<i64, Reply> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| failure(format!("invalid {what}: {text:?}")))
}

/// The typed path of a room action: the room it addresses, whether the ILIAS 8 shape
/// was used (its answers carry `subRoomId`), and the action's own segments.
#[derive(Debug, Clone)]
pub(super) struct RoomRequest {
    pub key: RoomKey,
    ilias8_shape: bool,
    segments: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RoomRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segments) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let room = segments.get("room").map(String::as_str).unwrap_or("");
        let sub = segments.get("sub").map(String::as_str);
        let key = RoomKey {
            room_id: parse_id(room, "room id").map_err(IntoResponse::into_response)?,
            sub_room: sub
                .map(|s| parse_id(s, "sub-room id"))
                .transpose()
                .map_err(IntoResponse::into_response)?
                .unwrap_or(0),
        };
        Ok(RoomRequest {
            key,
            ilias8_shape: sub.is_some(),
            segments,
        })
    }
}

impl RoomRequest {
    /// An id segment of the action (`user`, `owner`, …), refused when not a number.
    pub fn id(&self, segment: &str, what: &str) -> Result<i64, Reply> {
        parse_id(self.text(segment), what)
    }

    /// A text segment of the action (`title`).
    pub fn text(&self, segment: &str) -> &str {
        self.segments.get(segment).map(String::as_str).unwrap_or("")
    }

    /// Fails unless the room exists (looked up in the database if need be).
    pub async fn existing_room(&self, chat: &RoomChat) -> Result<(), Reply> {
        if ensure_room(chat, self.key).await {
            return Ok(());
        }
        tracing::warn!(client = chat.name(), room = %self.key.socket_room(), "unknown room");
        Err(failure(RegisterError::UnknownRoom.to_string()))
    }

    /// The success answer, in the shape of the path PHP used.
    pub fn success(&self) -> Reply {
        match self.ilias8_shape {
            true => Json(json!({"success": true, "subRoomId": self.key.sub_room})),
            false => Json(json!({"success": true})),
        }
    }
}

/// `GetRooms/<name>`: the room ids the server knows (a debugging aid).
async fn get_rooms(Extension(chat): Chat) -> Reply {
    let rooms: BTreeMap<String, Value> = chat
        .rooms()
        .room_keys()
        .into_iter()
        .map(|key| (key.socket_room(), json!({})))
        .collect();
    Json(json!({"rooms": rooms}))
}

/// `Post`: the ILIAS ≤ 7 way of sending a message; accepted and ignored like the
/// original does.
async fn post(Extension(chat): Chat) -> Reply {
    tracing::trace!(client = chat.name(), "Not Supported Action Post");
    Json(json!({"success": true}))
}
