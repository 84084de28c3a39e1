//! Repository chat rooms: the socket.io namespace `/<name>` and the backend routes PHP
//! calls for rooms. State lives in [`RoomState`] inside the [`Client`]; this module
//! turns events and requests into state changes and emits what the browsers expect.

pub mod backend;
pub mod model;
pub mod payload;
mod socket;

use std::sync::Arc;

use serde::Serialize;
use socketioxide::socket::Sid;

use crate::client::Client;
use crate::store::StoreError;

pub use model::{RoomKey, RoomState};
pub use socket::attach;

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
        tracing::debug!(client = client.name(), event, %error, "broadcast failed");
    }
}

/// Sends one event to the given sockets (a user's tabs).
fn emit_to_sockets<T: Serialize + ?Sized>(client: &Client, sids: &[Sid], event: &str, payload: &T) {
    for sid in sids {
        if let Some(socket) = client.room_socket(*sid)
            && let Err(error) = socket.emit(event, payload)
        {
            tracing::debug!(client = client.name(), event, %error, "emit failed");
        }
    }
}

/// Loads every chat room of the client (`chatroom_settings`) as a main room titled
/// "Main", as the original does at start-up.
pub async fn preload(client: &Arc<Client>) -> Result<usize, StoreError> {
    let Some(store) = client.store() else {
        return Ok(0);
    };
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
