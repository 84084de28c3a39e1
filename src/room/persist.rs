//! What the chat rooms keep in ILIAS's database, and when they read it: history
//! entries are queued (delivery never waits for the database), an unknown room is
//! looked up before it is refused, and start-up and shutdown end the open sessions.

use std::time::Duration;

use super::RoomChat;
use super::model::{RoomKey, Subscriber};
use super::payload::Stored;
use crate::clock::now_s;
use crate::config::Generation;
use crate::store::{Store, StoreError, Write, chatroom};

/// Queues a message or notice for `chatroom_history`.
fn persist<T: Stored>(chat: &RoomChat, key: RoomKey, payload: &T) {
    let (message, timestamp_s) = payload.stored();
    persist_stored(chat, key, message, timestamp_s);
}

/// Queues an entry whose stored form was already made (and checked).
pub(super) fn persist_stored(chat: &RoomChat, key: RoomKey, message: String, timestamp_s: i64) {
    chat.client.write(Write::History {
        room_id: key.room_id,
        sub_room: (chat.client.generation() == Generation::Ilias8).then_some(key.sub_room),
        message,
        timestamp_s,
    });
}

/// Notices are part of the history on ILIAS 8 and 9 only.
pub(super) fn persist_notice<T: Stored>(chat: &RoomChat, key: RoomKey, notice: &T) {
    if chat.client.generation() < Generation::Ilias10 {
        persist(chat, key, notice);
    }
}

/// A user who came back after the grace period entered a room again: the
/// `chatroom_users` row PHP wrote at their first entry (and the grace period moved to
/// the sessions) is made again as PHP makes it, so ILIAS shows them as present.
pub(super) fn restore_presence(chat: &RoomChat, key: RoomKey, subscriber: &Subscriber) {
    let userdata = serde_json::json!({"login": subscriber.username(), "id": subscriber.id});
    chat.client.write(Write::RestorePresence {
        room_id: key.room_id,
        user_id: subscriber.id,
        userdata: userdata.to_string(),
        now_s: now_s(),
    });
}

/// How long a request for an unknown room waits for a database that is still
/// connecting (right after start-up or after a reload added the client).
const DATABASE_WAIT: Duration = Duration::from_secs(5);

/// The client's database, waiting a little for it when it is still connecting.
async fn connected_store(chat: &RoomChat) -> Option<&Store> {
    let deadline = tokio::time::Instant::now() + DATABASE_WAIT;
    loop {
        if let Some(store) = chat.client.store() {
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
pub(super) async fn ensure_room(chat: &RoomChat, key: RoomKey) -> bool {
    if chat.rooms().room(key).is_some() {
        return true;
    }
    let Some(store) = connected_store(chat).await else {
        return false;
    };
    let found = match key.sub_room {
        0 => chatroom::room_exists(store, key.room_id)
            .await
            .map(|exists| exists.then(|| ("Main".to_string(), None))),
        sub => chatroom::open_private_room(store, key.room_id, sub)
            .await
            .map(|row| row.map(|(title, owner)| (title, Some(owner.to_string())))),
    };
    match found {
        Ok(Some((title, owner))) => {
            chat.rooms().add_room(key, &title, owner);
            tracing::info!(client = chat.name(), room = %key.socket_room(), "room found in the database");
            true
        }
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(client = chat.name(), %error, "cannot look up a room");
            false
        }
    }
}

/// Start-up once the database is connected: end the sessions a previous run left
/// open (once per client), then load every chat room as a main room titled "Main".
/// After a restart with a snapshot, the sessions of the users it kept stay open (their
/// grace periods end them if they do not come back).
pub async fn start(chat: &RoomChat) -> Result<usize, StoreError> {
    let Some(store) = chat.client.store() else {
        return Ok(0);
    };
    let kept = crate::client::lock(&chat.kept_presence).take();
    match kept {
        None => end_all_sessions(chat),
        Some(kept) => {
            end_sessions_except(chat, store, &kept.presence).await?;
            if chat.client.generation() == Generation::Ilias8 {
                close_private_rooms_except(chat, store, &kept).await?;
            }
        }
    }
    if !chat.client.writes().flush(Duration::from_secs(30)).await {
        tracing::warn!(
            client = chat.name(),
            "start-up session cleanup is still pending"
        );
    }
    let ids = chatroom::room_ids(store).await?;
    let mut rooms = chat.rooms();
    for id in &ids {
        rooms.add_room(RoomKey::main(*id), "Main", None);
    }
    Ok(ids.len())
}

/// Shutdown: every open session ends, then the queue gets `timeout` to write what is
/// pending; what the database cannot take in time stays in the journal for the next
/// start.
pub async fn stop(chat: &RoomChat, timeout: Duration) {
    if chat.client.store().is_some() {
        end_all_sessions(chat);
    } else {
        tracing::warn!(
            client = chat.name(),
            "database never connected; sessions are ended at the next start"
        );
    }
    close_writes(chat, timeout).await;
}

/// Restart with a snapshot: the original's clean-up for every `chatroom_users` row but
/// those of registrations the snapshot kept.
async fn end_sessions_except(
    chat: &RoomChat,
    store: &Store,
    kept: &[(i64, i64)],
) -> Result<(), StoreError> {
    let mut by_user: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (room_id, user_id) in chatroom::present_users(store).await? {
        if kept.binary_search(&(room_id, user_id)).is_err() {
            by_user.entry(user_id).or_default().push(room_id);
        }
    }
    tracing::info!(
        client = chat.name(),
        kept = kept.len(),
        ended = by_user.values().map(Vec::len).sum::<usize>(),
        "start-up clean-up after a restart: presence of the snapshot's users kept"
    );
    for (user_id, room_ids) in by_user {
        chat.client.write(Write::EndSessions {
            user_id,
            room_ids,
            private_rooms: Vec::new(),
            emptied_private_rooms: Vec::new(),
            now_s: now_s(),
        });
    }
    Ok(())
}

/// What the start-up clean-up keeps after a restart with a snapshot (all sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// `(room_id, user)` of the registrations: their `chatroom_users` rows stay.
    pub presence: Vec<(i64, i64)>,
    /// ILIAS 8: the private rooms of the snapshot (`proom_id`): they stay open.
    pub private_rooms: Vec<i64>,
    /// ILIAS 8: `(proom_id, user)` registered in them: their sessions stay open.
    pub private_sessions: Vec<(i64, i64)>,
}

/// ILIAS 8, restart with a snapshot: the private rooms of the snapshot stay open and
/// are served again, with the sessions of the users registered in them; every other
/// open private room is closed and every other private-room session ends, as the
/// original's start-up does for all of them.
async fn close_private_rooms_except(
    chat: &RoomChat,
    store: &Store,
    kept: &Kept,
) -> Result<(), StoreError> {
    let proom_ids: Vec<i64> = chatroom::open_private_rooms(store)
        .await?
        .into_iter()
        .filter(|id| kept.private_rooms.binary_search(id).is_err())
        .collect();
    let mut by_user: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (proom_id, user_id) in chatroom::open_private_sessions(store).await? {
        let room_kept = kept.private_rooms.binary_search(&proom_id).is_ok();
        let session_kept = kept
            .private_sessions
            .binary_search(&(proom_id, user_id))
            .is_ok();
        // Sessions of closed rooms end with their room.
        if room_kept && !session_kept {
            by_user.entry(user_id).or_default().push(proom_id);
        }
    }
    tracing::info!(
        client = chat.name(),
        kept = kept.private_rooms.len(),
        closed = proom_ids.len(),
        "start-up clean-up after a restart: private rooms of the snapshot kept open"
    );
    if !proom_ids.is_empty() {
        chat.client.write(Write::ClosePrivateRooms {
            proom_ids,
            now_s: now_s(),
        });
    }
    for (user_id, mut private_rooms) in by_user {
        private_rooms.dedup();
        chat.client.write(Write::EndSessions {
            user_id,
            room_ids: Vec::new(),
            private_rooms,
            emptied_private_rooms: Vec::new(),
            now_s: now_s(),
        });
    }
    Ok(())
}

/// A stop that expects to come back (the listening socket outlives the process):
/// every pending write, but the sessions stay open for the next process.
pub async fn pause(chat: &RoomChat, timeout: Duration) {
    close_writes(chat, timeout).await;
}

/// Writes what the database takes within `timeout`; the rest goes to the journal.
async fn close_writes(chat: &RoomChat, timeout: Duration) {
    let left = chat.client.writes().close(timeout).await;
    if left > 0 {
        tracing::warn!(
            client = chat.name(),
            writes = left,
            "database writes kept in the journal for the next start"
        );
    }
}

fn end_all_sessions(chat: &RoomChat) {
    chat.client.write(Write::EndAllSessions {
        ilias8: chat.client.generation() == Generation::Ilias8,
        now_s: now_s(),
    });
}
