//! Removing a user: `Kick` (out of one room until PHP lets them in again) and `Ban`
//! (out of a chat room and all its private rooms, forgotten until PHP connects them).

use std::sync::Arc;

use axum::extract::Extension;
use serde_json::json;

use super::backend::{Chat, Reply, RoomRequest, answer, failure};
use super::model::{RegisterError, RoomKey};
use super::payload::{ActionHead, Notice};
use super::persist::ensure_room;
use super::{RoomChat, emit, userlist};

/// `Kick`: the user leaves the room and may not speak there until PHP lets them in.
pub(super) async fn kick(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            let user = request.id("user", "user id")?;
            let at = request.key;
            let kicked = chat
                .rooms()
                .kick(at, user)
                .map_err(|e| failure(e.to_string()))?;
            let Some(kicked) = kicked else {
                return Ok(request.success());
            };
            tracing::info!(client = chat.name(), user, room = %at.socket_room(), "user kicked");
            let action = ActionHead::new(emit::scope(&chat, at), "userjustkicked");
            emit::to_sockets(&chat, &kicked.sockets, "userjustkicked", &action);
            // The original addresses this notice to the main room, where ILIAS 8 sends
            // the kicked user back to.
            let main = RoomKey::main(at.room_id);
            let data = json!({"title": kicked.room_title});
            let notice = Notice::new(
                emit::scope(&chat, main),
                "kicked_from_private_room",
                Some(data),
            );
            emit::to_sockets(&chat, &kicked.sockets, "notice", &notice);
            emit::leave_socket_room(&chat, &kicked.sockets, at);
            if at.sub_room > 0 {
                emit::userlist_to_sockets(&chat, &kicked.sockets, main);
            }
            announce_removal(&chat, at, &kicked.username).await;
            Ok(request.success())
        }
        .await,
    )
}

/// `Ban`: the user leaves the chat room and all its private rooms and is forgotten
/// until PHP connects them again (PHP refuses banned users).
pub(super) async fn ban(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            let user = request.id("user", "user id")?;
            let room_id = request.key.room_id;
            if !ensure_room(&chat, RoomKey::main(room_id)).await {
                return Err(failure(RegisterError::UnknownRoom.to_string()));
            }
            chat.cancel_grace_timer(user);
            // An unknown user (not online) is no error: PHP records the ban only after
            // a successful answer, and offline users must be bannable too.
            let Some(banned) = chat.rooms().ban(room_id, user) else {
                return Ok(request.success());
            };
            tracing::info!(client = chat.name(), user, room = room_id, "user banned");
            if !banned.rooms.is_empty() {
                emit::to_sockets(&chat, &banned.sockets, "userjustbanned", &[(); 0]);
            }
            for key in &banned.rooms {
                emit::leave_socket_room(&chat, &banned.sockets, *key);
                announce_removal(&chat, *key, &banned.username).await;
            }
            Ok(request.success())
        }
        .await,
    )
}

/// Tells a room that a user was removed (kick or ban): new user list and a notice.
async fn announce_removal(chat: &Arc<RoomChat>, key: RoomKey, username: &str) {
    userlist::announce(chat, key);
    let notice = Notice::new(
        emit::scope(chat, key),
        "user_kicked",
        Some(json!({"user": username})),
    );
    emit::to_room(chat, key, "notice", &notice).await;
}
