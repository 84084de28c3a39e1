//! The grace period after a user's last chat-room socket closed: a page reload or a
//! short network drop must not look like leaving the chat. Only when the period ends
//! without the user coming back (Connect, login or enterRoom cancel it) does the user
//! leave every room.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use socketioxide::extract::SocketRef;

use super::model::RoomKey;
use super::payload::Notice;
use super::persist::persist_notice;
use super::{RoomChat, emit};
use crate::clock::now_s;
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

/// A closed socket; when it was the user's last one, the grace period starts.
pub(super) fn socket_closed(chat: &Arc<RoomChat>, socket: &SocketRef) {
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
async fn expire(chat: &RoomChat, user: UserId) {
    let Some(expired) = chat.rooms().expire(user) else {
        return;
    };
    tracing::info!(
        client = chat.name(),
        user,
        rooms = expired.rooms.len(),
        "user left the chat"
    );
    for key in &expired.rooms {
        emit::userlist_to_room(chat, *key).await;
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
