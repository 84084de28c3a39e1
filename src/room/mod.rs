//! Repository chat rooms: the socket.io namespace `/<name>` and the backend routes PHP
//! calls for rooms. State lives in [`RoomState`] inside the [`Client`]; this module
//! turns events and requests into state changes, emits what the browsers expect and
//! queues what ILIAS keeps in its database.

pub mod backend;
mod grace;
pub mod model;
pub mod payload;
mod socket;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use socketioxide::socket::Sid;

use crate::client::Client;
use crate::config::Generation;
use crate::store::{StoreError, Write};

pub use grace::grace_period;
pub use model::{RoomKey, RoomState};
pub use socket::attach;

use payload::{Scope, Stored, Userlist};

/// Sends one event to every socket in a server room.
async fn emit_to_room<T: Serialize + ?Sized>(
    client: &Client,
    key: RoomKey,
    event: &str,
    payload: &T,
) {
    let Some(ns) = client.io().of(client.config.room_namespace()) else {
        return;
    };
    if let Err(error) = ns.to(key.socket_room()).emit(event, payload).await {
        tracing::warn!(client = client.name(), event, %error, "broadcast failed");
    }
}

/// Sends one event to the given sockets (a user's tabs).
fn emit_to_sockets<T: Serialize + ?Sized>(client: &Client, sids: &[Sid], event: &str, payload: &T) {
    for sid in sids {
        if let Some(socket) = client.room_socket(*sid)
            && let Err(error) = socket.emit(event, payload)
        {
            tracing::warn!(client = client.name(), event, %sid, %error, "emit failed");
        }
    }
}

/// Makes the given sockets leave a server room.
fn leave_socket_room(client: &Client, sids: &[Sid], key: RoomKey) {
    for sid in sids {
        if let Some(socket) = client.room_socket(*sid) {
            socket.leave(key.socket_room());
        }
    }
}

/// Sends the current user list of a room to everyone in it.
async fn broadcast_userlist(client: &Client, key: RoomKey) {
    let generation = client.generation();
    let members = client.rooms().members(key);
    let list = Userlist::new(Scope::of(key, generation), &members, generation);
    emit_to_room(client, key, "userlist", &list).await;
}

/// The user list of a room, for specific sockets.
fn send_userlist(client: &Client, sids: &[Sid], key: RoomKey) {
    let generation = client.generation();
    let members = client.rooms().members(key);
    let list = Userlist::new(Scope::of(key, generation), &members, generation);
    emit_to_sockets(client, sids, "userlist", &list);
}

/// Queues a message or notice for `chatroom_history`.
fn persist<T: Stored>(client: &Client, key: RoomKey, payload: &T) {
    let (message, timestamp_s) = payload.stored();
    persist_stored(client, key, message, timestamp_s);
}

/// Queues an entry whose stored form was already made (and checked).
fn persist_stored(client: &Client, key: RoomKey, message: String, timestamp_s: i64) {
    client.write(Write::History {
        room_id: key.room_id,
        sub_room: (client.generation() == Generation::Ilias8).then_some(key.sub_room),
        message,
        timestamp_s,
    });
}

/// Notices are part of the history on ILIAS 8 and 9 only.
fn persist_notice<T: Stored>(client: &Client, key: RoomKey, notice: &T) {
    if client.generation() < Generation::Ilias10 {
        persist(client, key, notice);
    }
}

/// Seconds since the epoch, the unit of `chatroom_*` timestamps.
fn now_s() -> i64 {
    payload::now_ms() / 1000
}

/// How long a request for an unknown room waits for a database that is still
/// connecting (right after start-up or after a reload added the client).
const DATABASE_WAIT: Duration = Duration::from_secs(5);

/// The client's database, waiting a little for it when it is still connecting.
async fn connected_store(client: &Client) -> Option<&crate::store::Store> {
    let deadline = tokio::time::Instant::now() + DATABASE_WAIT;
    loop {
        if let Some(store) = client.store() {
            return Some(store);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the room exists, looking it up in the database when the server does not
/// know it yet (created in ILIAS while the server was down or before it noticed).
async fn ensure_room(client: &Client, key: RoomKey) -> bool {
    if client.rooms().room(key).is_some() {
        return true;
    }
    let Some(store) = connected_store(client).await else {
        return false;
    };
    let found = match key.sub_room {
        0 => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM chatroom_settings WHERE room_id = ?")
                .bind(key.room_id)
                .fetch_one(store.pool())
                .await
                .map(|count| (count > 0).then(|| ("Main".to_string(), None)))
        }
        sub => sqlx::query_as::<_, (String, i64)>(
            "SELECT title, owner FROM chatroom_prooms \
             WHERE proom_id = ? AND parent_id = ? AND (closed = 0 OR closed IS NULL)",
        )
        .bind(sub)
        .bind(key.room_id)
        .fetch_optional(store.pool())
        .await
        .map(|row| row.map(|(title, owner)| (title, Some(owner.to_string())))),
    };
    match found {
        Ok(Some((title, owner))) => {
            client.rooms().add_room(key, &title, owner);
            tracing::info!(client = client.name(), room = %key.socket_room(), "room found in the database");
            true
        }
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(client = client.name(), %error, "cannot look up a room");
            false
        }
    }
}

/// Start-up once the database is connected: end the sessions a previous run left
/// open (once per client), then load every chat room as a main room titled "Main".
pub async fn start(client: &Arc<Client>) -> Result<usize, StoreError> {
    let Some(store) = client.store() else {
        return Ok(0);
    };
    client.write(Write::EndAllSessions {
        ilias8: client.generation() == Generation::Ilias8,
        now_s: now_s(),
    });
    if !client.writes().flush(Duration::from_secs(30)).await {
        tracing::warn!(
            client = client.name(),
            "start-up session cleanup is still pending"
        );
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT room_id FROM chatroom_settings")
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::query("loading chat rooms"))?;
    let mut rooms = client.rooms();
    for id in &ids {
        rooms.add_room(RoomKey::main(*id), "Main", None);
    }
    Ok(ids.len())
}

/// Shutdown: every pending write, then every open session ends.
pub async fn stop(client: &Client, timeout: Duration) {
    if client.store().is_none() {
        tracing::warn!(
            client = client.name(),
            "database never connected; nothing written at shutdown"
        );
        return;
    }
    client.write(Write::EndAllSessions {
        ilias8: client.generation() == Generation::Ilias8,
        now_s: now_s(),
    });
    if !client.writes().flush(timeout).await {
        tracing::error!(
            client = client.name(),
            "database writes still pending at shutdown were lost"
        );
    }
}
