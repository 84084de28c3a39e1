//! The grace period after a user's last chat-room socket closed: a page reload or a
//! short network drop must not look like leaving the chat. Only when the period ends
//! without the user coming back (Connect, login or enterRoom cancel it) does the user
//! leave every room.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;

use super::model::{RoomKey, UserId};
use super::payload::{Notice, Scope};
use super::{broadcast_userlist, emit_to_room, now_s, persist_notice};
use crate::client::Client;
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

/// Starts (or restarts) the user's grace timer.
pub(super) fn start(client: &Arc<Client>, user: UserId) {
    let task_client = client.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(grace_period()).await;
        task_client.grace_timer_fired(user);
        expire(&task_client, user).await;
    });
    client.arm_grace_timer(user, task.abort_handle());
}

/// The user has left: every room they were registered in hears it, and their
/// `chatroom_users` rows become sessions.
async fn expire(client: &Client, user: UserId) {
    let Some(expired) = client.rooms().expire(user) else {
        return;
    };
    tracing::info!(
        client = client.name(),
        user,
        rooms = expired.rooms.len(),
        "user left the chat"
    );
    let generation = client.generation();
    for key in &expired.rooms {
        broadcast_userlist(client, *key).await;
        let notice = Notice::new(
            Scope::of(*key, generation),
            "disconnected",
            Some(json!({"username": expired.username})),
        );
        emit_to_room(client, *key, "notice", &notice).await;
        persist_notice(client, *key, &notice);
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
    client.write(Write::EndSessions {
        user_id: user,
        room_ids,
        private_rooms: sub_rooms(&expired.rooms),
        emptied_private_rooms: sub_rooms(&expired.emptied),
        now_s: now_s(),
    });
}
