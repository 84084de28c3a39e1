//! The way out of the chat-room namespace: to a whole server room or to given sockets
//! (a user's tabs). A failed emit concerns one browser only: it is logged, never
//! passed on.

use serde::Serialize;
use socketioxide::socket::Sid;

use super::RoomChat;
use super::model::RoomKey;
use super::payload::{Scope, Userlist};
use crate::metrics::{self, Feature};
use crate::repeats::{Repeats, Verdict};

/// Sends one event to every socket in a server room.
pub(super) async fn to_room<T: Serialize + ?Sized>(
    chat: &RoomChat,
    key: RoomKey,
    event: &str,
    payload: &T,
) {
    let Some(ns) = chat.client.io().of(chat.client.config.room_namespace()) else {
        return;
    };
    let receivers = ns.clone().to(key.socket_room()).sockets().len();
    match ns.to(key.socket_room()).emit(event, payload).await {
        Ok(()) => metrics::delivered(chat.name(), Feature::Room, event, receivers),
        // A socket with a full buffer fails every broadcast to its rooms until it is
        // disconnected: one line, then counts.
        Err(error) => {
            match Repeats::global().note(chat.name(), &format!("broadcast of `{event}` failed")) {
                Verdict::First => {
                    tracing::warn!(client = chat.name(), event, %error, "broadcast failed")
                }
                Verdict::Quiet => {}
                Verdict::Summary(count) => {
                    tracing::warn!(client = chat.name(), event, count, %error, "broadcast failed (times since the last line)")
                }
            }
        }
    }
}

/// Sends one event to the given sockets (a user's tabs).
pub(super) fn to_sockets<T: Serialize + ?Sized>(
    chat: &RoomChat,
    sids: &[Sid],
    event: &str,
    payload: &T,
) {
    let namespace = chat.client.config.room_namespace();
    chat.client.emit_to(&namespace, sids, event, payload);
}

/// Makes the given sockets leave a server room.
pub(super) fn leave_socket_room(chat: &RoomChat, sids: &[Sid], key: RoomKey) {
    for sid in sids {
        if let Some(socket) = chat.socket(*sid) {
            socket.leave(key.socket_room());
        }
    }
}

/// The current user list of a room.
fn userlist(chat: &RoomChat, key: RoomKey) -> Userlist {
    let generation = chat.client.generation();
    let members = chat.rooms().members(key);
    Userlist::new(Scope::of(key, generation), &members, generation)
}

/// Sends the current user list of a room to everyone in it.
pub(super) async fn userlist_to_room(chat: &RoomChat, key: RoomKey) {
    to_room(chat, key, "userlist", &userlist(chat, key)).await;
}

/// The user list of a room, for specific sockets.
pub(super) fn userlist_to_sockets(chat: &RoomChat, sids: &[Sid], key: RoomKey) {
    to_sockets(chat, sids, "userlist", &userlist(chat, key));
}

/// The scope of payloads about a room, in this client's generation.
pub(super) fn scope(chat: &RoomChat, key: RoomKey) -> Scope {
    Scope::of(key, chat.client.generation())
}
