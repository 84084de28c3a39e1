//! The way out of the chat-room namespace: to a whole server room or to given sockets
//! (a user's tabs). A failed emit concerns one browser only: it is logged, never
//! passed on.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::RoomChat;
use super::grace::grace_period;
use super::model::RoomKey;
use super::payload::{Scope, Userlist};
use crate::client::lock;
use crate::clock::now_ms;
use crate::ids::UserId;
use crate::metrics::{self, Feature};
use crate::repeats::{Repeats, Verdict};

/// How long a message is kept for a browser on its way back (see [`super::replay`]):
/// the grace period, after which a browser that was away has been announced as gone.
fn replay_age_ms() -> i64 {
    i64::try_from(grace_period().as_millis()).unwrap_or(i64::MAX)
}

/// A chat `message` to everyone in a server room, kept for its users who are away.
/// `outside`: the sender's socket, when it is not in the room yet (a message the
/// browser buffered while reconnecting is handled before its `enterRoom`): it gets its
/// message with the others' on entering, in the room's order, when its user is on the
/// way back, else directly now. The broadcast happens under the replay lock: a socket
/// joining the room meanwhile gets the message either live or replayed, never both,
/// never neither.
pub(super) fn message_to_room<T: Serialize + ?Sized>(
    chat: &RoomChat,
    key: RoomKey,
    payload: &T,
    sender: UserId,
    outside: Option<Sid>,
) {
    let Some(ns) = chat.client.io().of(chat.client.config.room_namespace()) else {
        return;
    };
    let room = key.socket_room();
    let now = now_ms();
    let mut replay = lock(&chat.replay);
    let mut direct = outside;
    if replay.watching(key, now, replay_age_ms()) {
        if replay.is_away(sender, key) {
            direct = None;
        }
        match serde_json::to_value(payload) {
            Ok(value) => replay.keep(key, value, direct.into_iter().collect(), now),
            Err(error) => {
                tracing::warn!(client = chat.name(), %error, "message not kept for replay")
            }
        }
    }
    let receivers = ns.clone().to(room.clone()).sockets().len();
    // The local adapter broadcasts when first polled; the future is ready at once.
    match at_once(ns.to(room).emit("message", payload)) {
        Some(Ok(())) => metrics::delivered(chat.name(), Feature::Room, "message", receivers),
        Some(Err(error)) => tracing::warn!(client = chat.name(), %error, "broadcast failed"),
        None => tracing::error!(
            client = chat.name(),
            "broadcast did not complete at once; message not delivered"
        ),
    }
    if let Some(sid) = direct {
        to_sockets(chat, &[sid], "message", payload);
    }
    drop(replay);
}

/// Joins a socket to a server room; a socket of a user who was away from it (a dropped
/// connection, a restart) then gets the messages it missed, in order, before anything
/// said after.
pub(super) fn join_room(chat: &RoomChat, socket: &SocketRef, user: UserId, key: RoomKey) {
    let room = key.socket_room();
    let mut replay = lock(&chat.replay);
    let already = socket.rooms().iter().any(|r| *r == room);
    socket.join(room);
    if already {
        return;
    }
    let missed = replay.enter(socket.id, user, key, now_ms(), replay_age_ms());
    let mut sent = 0;
    for payload in &missed {
        match socket.emit("message", &**payload) {
            Ok(()) => sent += 1,
            Err(error) => tracing::debug!(sid = %socket.id, %error, "replay emit failed"),
        }
    }
    drop(replay);
    if !missed.is_empty() {
        metrics::delivered(chat.name(), Feature::Room, "message", sent);
        tracing::info!(
            client = chat.name(),
            user,
            room = %key.socket_room(),
            missed = missed.len(),
            "messages missed while away replayed"
        );
    }
}

/// Polls a future once: its output if it is ready without waiting.
fn at_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Sends one event to every socket in a server room but `socket`, at once (the local
/// adapter broadcasts when first polled), so that a caller may hold a lock around it.
pub(super) fn to_others_in_room<T: Serialize + ?Sized>(
    chat: &RoomChat,
    socket: &SocketRef,
    key: RoomKey,
    event: &str,
    payload: &T,
) {
    let receivers = socket.to(key.socket_room()).sockets().len();
    broadcast_at_once(
        chat,
        event,
        receivers,
        socket.to(key.socket_room()).emit(event, payload),
    );
}

/// Completes a broadcast of the local adapter, which is ready when first polled, and
/// counts it (or logs why it was not delivered).
fn broadcast_at_once<E: std::fmt::Display>(
    chat: &RoomChat,
    event: &str,
    receivers: usize,
    broadcast: impl Future<Output = Result<(), E>>,
) {
    match at_once(broadcast) {
        Some(result) => broadcast_done(chat, event, receivers, result),
        None => tracing::error!(
            client = chat.name(),
            event,
            "broadcast did not complete at once; not delivered"
        ),
    }
}

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
    let result = ns.to(key.socket_room()).emit(event, payload).await;
    broadcast_done(chat, event, receivers, result);
}

/// Counts a broadcast, or logs its failure.
fn broadcast_done<E: std::fmt::Display>(
    chat: &RoomChat,
    event: &str,
    receivers: usize,
    result: Result<(), E>,
) {
    match result {
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
    Userlist::new(Scope::of(key, generation), members, generation)
}

/// Sends the current user list of a room to everyone in it, before returning: the
/// caller serialises these sends (see [`super::userlist`]), so that the last list a room
/// gets is never older than one sent before it.
pub(super) fn userlist_to_room(chat: &RoomChat, key: RoomKey) {
    let Some(ns) = chat.client.io().of(chat.client.config.room_namespace()) else {
        return;
    };
    let list = userlist(chat, key);
    let receivers = ns.clone().to(key.socket_room()).sockets().len();
    broadcast_at_once(
        chat,
        "userlist",
        receivers,
        ns.to(key.socket_room()).emit("userlist", &list),
    );
}

/// The user list of a room, for specific sockets.
pub(super) fn userlist_to_sockets(chat: &RoomChat, sids: &[Sid], key: RoomKey) {
    to_sockets(chat, sids, "userlist", &userlist(chat, key));
}

/// The scope of payloads about a room, in this client's generation.
pub(super) fn scope(chat: &RoomChat, key: RoomKey) -> Scope {
    Scope::of(key, chat.client.generation())
}
