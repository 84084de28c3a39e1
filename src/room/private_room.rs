//! Rooms PHP creates, leaves and (ILIAS 8) deletes: `CreatePrivateRoom`,
//! `LeavePrivateRoom`, `DeletePrivateRoom`. ILIAS 9+ call `CreatePrivateRoom` for every
//! new chat room; ILIAS 8 also for private rooms inside one.

use axum::extract::Extension;
use serde_json::json;

use super::backend::{Chat, Reply, RoomRequest, answer, failure};
use super::model::RoomKey;
use super::payload::{ActionHead, CreateAction, Notice};
use super::{RoomChat, emit, userlist};
use crate::config::Generation;

/// `CreatePrivateRoom`: makes a room known; the owner of a new private room is told.
pub(super) async fn create(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            let owner = request.text("owner");
            let owner_id = request.id("owner", "owner id")?;
            let title = request.text("title").to_string();
            let key = request.key;
            let (added, owner_sockets) = {
                let mut rooms = chat.rooms();
                (
                    rooms.add_room(key, &title, Some(owner.to_string())),
                    rooms.sockets_of(owner_id),
                )
            };
            tracing::info!(client = chat.name(), room = %key.socket_room(), added, "room created");
            if added && key.sub_room > 0 {
                let action = CreateAction {
                    head: ActionHead::new(emit::scope(&chat, key), "private_room_created"),
                    title,
                    owner_id: owner.to_string(),
                };
                emit::to_sockets(&chat, &owner_sockets, "private_room_created", &action);
            }
            Ok(request.success())
        }
        .await,
    )
}

/// `LeavePrivateRoom`: the user's browser leaves the room (PHP's registration stays).
pub(super) async fn leave(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            let user = request.id("user", "user id")?;
            let at = request.key;
            let left = chat
                .rooms()
                .leave(at, user)
                .map_err(|e| failure(e.to_string()))?;
            emit::leave_socket_room(&chat, &left.sockets, at);
            let back_to = back_after_leaving(&chat, at);
            let notice = Notice::new(emit::scope(&chat, back_to), "left", None);
            emit::to_sockets(&chat, &left.sockets, "notice", &notice);
            emit::userlist_to_sockets(&chat, &left.sockets, back_to);
            userlist::announce(&chat, at);
            let data = json!({"user": left.username, "title": left.room_title});
            let notice = Notice::new(emit::scope(&chat, at), "private_room_left", Some(data));
            emit::to_room(&chat, at, "notice", &notice).await;
            Ok(request.success())
        }
        .await,
    )
}

/// Where a leaver's browser is afterwards: ILIAS 8 sends it back to the main room.
fn back_after_leaving(chat: &RoomChat, left: RoomKey) -> RoomKey {
    match chat.client.generation() {
        Generation::Ilias8 => RoomKey::main(left.room_id),
        _ => left,
    }
}

/// `DeletePrivateRoom` (ILIAS 8): everyone in the private room is sent back to the
/// main room, which hears that it closed.
pub(super) async fn delete(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            let at = request.key;
            let deleted = chat
                .rooms()
                .delete_room(at)
                .ok_or_else(|| failure("unknown room"))?;
            emit::leave_socket_room(&chat, &deleted.sockets, at);
            let action = ActionHead::new(emit::scope(&chat, at), "private_room_deleted");
            emit::to_sockets(&chat, &deleted.sockets, "private_room_deleted", &action);
            let main = RoomKey::main(at.room_id);
            let notice = Notice::new(
                emit::scope(&chat, main),
                "private_room_closed",
                Some(json!({"title": deleted.title})),
            );
            emit::to_room(&chat, main, "notice", &notice).await;
            Ok(request.success())
        }
        .await,
    )
}
