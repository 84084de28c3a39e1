//! The grace period after a user's last chat-room socket closed: a page reload or a
//! short network drop must not look like leaving the chat. Only when the period ends
//! without the user coming back (Connect, login or enterRoom cancel it) does the user
//! leave every room. Within the reconnect window after that, a browser that comes back
//! (a closed laptop lid, a train tunnel) is let into its rooms again without PHP,
//! unless the user was kicked or banned meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use socketioxide::extract::SocketRef;

use super::model::RoomKey;
use super::payload::Notice;
use super::persist::persist_notice;
use super::{RoomChat, emit, userlist};
use crate::clock::{now_ms, now_s};
use crate::ids::UserId;
use crate::store::Write;

/// Environment variable that shortens the period (milliseconds), for tests.
pub const GRACE_ENV: &str = "ILIAS_CHAT_DISCONNECT_GRACE_MS";
const DEFAULT_GRACE: Duration = Duration::from_secs(15);

/// 15 s as in the original, unless [`GRACE_ENV`] says otherwise.
pub fn grace_period() -> Duration {
    static PERIOD: OnceLock<Duration> = OnceLock::new();
    *PERIOD.get_or_init(|| {
        std::env::var(GRACE_ENV)
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_GRACE)
    })
}

/// How long after the grace period a user may come back by reconnecting: ILIAS's
/// default session lifetime (`[session] expire` in client.ini.php), after which the
/// page could not have been used anyway.
pub const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(1800);

static RECONNECT_WINDOW_MS: AtomicU64 = AtomicU64::new(1_800_000);

/// Sets the reconnect window (server.cfg `reconnect_window`; 0 turns re-entry off).
pub fn set_reconnect_window(window: Duration) {
    let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    RECONNECT_WINDOW_MS.store(ms, Ordering::Relaxed);
}

/// The reconnect window in force.
pub fn reconnect_window() -> Duration {
    Duration::from_millis(RECONNECT_WINDOW_MS.load(Ordering::Relaxed))
}

fn window_ms() -> i64 {
    i64::try_from(RECONNECT_WINDOW_MS.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

/// A `login` of a user whose grace period ended: within the window they are
/// registered again in the rooms they left, and their `enterRoom` then greets them as
/// on any entry.
pub(super) fn readmit(chat: &RoomChat, user: UserId) {
    let rooms = chat.rooms().readmit(user, now_ms(), window_ms());
    if !rooms.is_empty() {
        tracing::info!(
            client = chat.name(),
            user,
            rooms = rooms.len(),
            "user came back after the grace period"
        );
    }
}

/// Forgets, once a while, the departures whose reconnect window has ended and the
/// replay marks older than the grace period, so that a user who never comes back
/// costs nothing afterwards. One task per client, ending
/// with the client.
pub fn forget_departures(chat: &Arc<RoomChat>) {
    let chat = Arc::downgrade(chat);
    tokio::spawn(async move {
        loop {
            // Often enough that a departure outlives its window by at most a minute.
            tokio::time::sleep(
                reconnect_window().clamp(Duration::from_secs(1), Duration::from_secs(60)),
            )
            .await;
            let Some(chat) = chat.upgrade() else {
                break;
            };
            chat.sweep();
            let forgotten = chat.rooms().forget_departures(now_ms(), window_ms());
            if forgotten > 0 {
                tracing::debug!(
                    client = chat.name(),
                    users = forgotten,
                    "reconnect window over"
                );
            }
        }
    });
}

/// Users restored from the restart snapshot have no socket yet: their grace periods
/// start now, as if their browsers had just lost the connection.
pub(super) fn resume(chat: &Arc<RoomChat>, users: &[UserId]) {
    for user in users {
        start(chat, *user);
    }
}

/// A closed socket; when it was the user's last one, the grace period starts.
pub(super) fn socket_closed(chat: &Arc<RoomChat>, socket: &SocketRef) {
    crate::client::lock(&chat.replay).socket_closed(socket.id, now_ms());
    let closed = chat.rooms().socket_closed(socket.id);
    tracing::debug!(client = chat.name(), sid = %socket.id, "room socket disconnected");
    if let Some((user, true)) = closed {
        start(chat, user);
    }
}

/// Starts (or restarts) the user's grace timer.
fn start(chat: &Arc<RoomChat>, user: UserId) {
    let task_chat = chat.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(grace_period()).await;
        task_chat.grace_timer_fired(user);
        expire(&task_chat, user).await;
    });
    chat.arm_grace_timer(user, task.abort_handle());
}

/// The user has left: every room they were registered in hears it, and their
/// `chatroom_users` rows become sessions.
async fn expire(chat: &Arc<RoomChat>, user: UserId) {
    let Some(expired) = chat.rooms().expire_at(user, now_ms(), window_ms()) else {
        return;
    };
    tracing::info!(
        client = chat.name(),
        user,
        rooms = expired.rooms.len(),
        "user left the chat"
    );
    for key in &expired.rooms {
        userlist::announce(chat, *key);
        let notice = Notice::new(
            emit::scope(chat, *key),
            "disconnected",
            Some(json!({"username": expired.username})),
        );
        emit::to_room(chat, *key, "notice", &notice).await;
        persist_notice(chat, *key, &notice);
    }
    if expired.rooms.is_empty() {
        return;
    }
    let mut room_ids: Vec<i64> = expired.rooms.iter().map(|k| k.room_id).collect();
    room_ids.dedup();
    let sub_rooms = |keys: &[RoomKey]| {
        keys.iter()
            .filter(|k| k.sub_room > 0)
            .map(|k| k.sub_room)
            .collect()
    };
    chat.client.write(Write::EndSessions {
        user_id: user,
        room_ids,
        private_rooms: sub_rooms(&expired.rooms),
        emptied_private_rooms: sub_rooms(&expired.emptied),
        now_s: now_s(),
    });
}
