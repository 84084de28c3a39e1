//! The units of work the chat server writes, one [`Write`] each. They go through the
//! per-client [`WriteQueue`](super::WriteQueue), so message delivery never waits for
//! the database and the order of writes is the order of events. The statements
//! themselves are in [`chatroom`](super::chatroom) and [`osc`](super::osc).

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::charset::{fit_json, fit_text};
use super::{Store, StoreError, chatroom, osc};

/// A one-time answer channel carried by a [`Write`] whose caller wants its outcome
/// (the purge reports what it deleted). Equal only to itself.
#[derive(Clone)]
pub struct Reply<T>(Arc<Mutex<Option<oneshot::Sender<T>>>>);

impl<T> Reply<T> {
    /// A reply slot and the receiver that gets the answer (or an error when the write
    /// was dropped).
    pub fn new() -> (Reply<T>, oneshot::Receiver<T>) {
        let (tx, rx) = oneshot::channel();
        (Reply(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    fn send(&self, value: T) {
        let sender = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(sender) = sender {
            // The receiver may have given up waiting; nothing to do then.
            let _ = sender.send(value);
        }
    }
}

impl<T> PartialEq for Reply<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Reply<T> {}

impl<T> std::fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

/// What the daily purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub history: u64,
    pub messages: u64,
    pub conversations: u64,
    pub activity: u64,
    /// Ids of the deleted conversations (message-less ones), for the in-memory state.
    pub conversation_ids: Vec<String>,
}

/// One unit of work for the database, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A chat message or notice into `chatroom_history`.
    History {
        room_id: i64,
        /// `Some` on ILIAS 8 only (the `sub_room` column was dropped in ILIAS 9).
        sub_room: Option<i64>,
        /// The message JSON as ILIAS PHP reads it back (timestamp in seconds).
        message: String,
        timestamp_s: i64,
    },
    /// A user left these chat rooms: their `chatroom_users` rows become
    /// `chatroom_sessions` rows. On ILIAS 8 their private-room sessions end too, and
    /// private rooms left empty are closed.
    EndSessions {
        user_id: i64,
        room_ids: Vec<i64>,
        private_rooms: Vec<i64>,
        emptied_private_rooms: Vec<i64>,
        now_s: i64,
    },
    /// A user came back into a chat room after the grace period: their
    /// `chatroom_users` row is inserted as PHP inserts it on entry, unless one exists.
    RestorePresence {
        room_id: i64,
        user_id: i64,
        /// `{"login": …, "id": …}` as PHP writes it.
        userdata: String,
        now_s: i64,
    },
    /// Start-up and shutdown: every `chatroom_users` row becomes a session; on ILIAS 8
    /// every private-room session ends and every private room is closed.
    EndAllSessions { ilias8: bool, now_s: i64 },
    /// A new on-screen chat conversation (`osc_conversation`).
    ConversationInsert {
        id: String,
        is_group: bool,
        /// JSON array of `{id, name}`.
        participants: String,
    },
    /// A conversation's participants or group flag changed.
    ConversationUpdate {
        id: String,
        is_group: bool,
        participants: String,
    },
    /// An on-screen chat message (`osc_messages`).
    ConversationMessage {
        id: String,
        conversation_id: String,
        user_id: i64,
        message: String,
        timestamp_ms: i64,
    },
    /// The original's `trackActivity`: a user's last activity in a conversation. An
    /// existing row is updated (and reopened) only for a positive timestamp; a missing
    /// row is inserted with the given timestamp.
    Activity {
        conversation_id: String,
        user_id: i64,
        timestamp_ms: i64,
    },
    /// A user closed a conversation: an existing activity row is marked closed.
    CloseConversation {
        conversation_id: String,
        user_id: i64,
        now_ms: i64,
    },
    /// The daily purge: history and on-screen chat messages older than the bounds,
    /// every conversation left without messages and activity rows of vanished
    /// conversations. Ordered with the other writes, so a conversation's INSERT and
    /// its messages are never split by it.
    Purge {
        bound_s: i64,
        bound_ms: i64,
        reply: Reply<PurgeReport>,
    },
}

impl Write {
    /// What this write does, for logs.
    pub fn describe(&self) -> String {
        match self {
            Write::History { room_id, .. } => format!("history entry for room {room_id}"),
            Write::EndSessions { user_id, .. } => format!("end of the sessions of user {user_id}"),
            Write::RestorePresence {
                room_id, user_id, ..
            } => format!("presence of user {user_id} in room {room_id}"),
            Write::EndAllSessions { .. } => "end of all sessions".to_string(),
            Write::ConversationInsert { id, .. } => format!("new conversation {id}"),
            Write::ConversationUpdate { id, .. } => format!("participants of conversation {id}"),
            Write::ConversationMessage {
                conversation_id, ..
            } => format!("message in conversation {conversation_id}"),
            Write::Activity {
                conversation_id,
                user_id,
                ..
            } => format!("activity of user {user_id} in conversation {conversation_id}"),
            Write::CloseConversation {
                conversation_id,
                user_id,
                ..
            } => format!("user {user_id} closing conversation {conversation_id}"),
            Write::Purge { .. } => "purge of old messages".to_string(),
        }
    }

    /// Applies the write. Multi-statement writes run in one transaction, so a retry
    /// after a failure never duplicates rows.
    pub async fn apply(&self, store: &Store) -> Result<(), StoreError> {
        let narrow = store.narrow_columns();
        let mut tx = store
            .pool()
            .begin()
            .await
            .map_err(StoreError::query("starting a transaction"))?;
        match self {
            Write::History {
                room_id,
                sub_room,
                message,
                timestamp_s,
            } => {
                let message = fit_json(message, narrow.history, "chat history entry");
                chatroom::insert_history(&mut tx, *room_id, *sub_room, &message, *timestamp_s)
                    .await?
            }
            Write::EndSessions {
                user_id,
                room_ids,
                private_rooms,
                emptied_private_rooms,
                now_s,
            } => {
                chatroom::end_user_sessions(&mut tx, *user_id, room_ids, *now_s).await?;
                chatroom::end_private_sessions(
                    &mut tx,
                    *user_id,
                    private_rooms,
                    emptied_private_rooms,
                    *now_s,
                )
                .await?;
            }
            Write::RestorePresence {
                room_id,
                user_id,
                userdata,
                now_s,
            } => chatroom::restore_presence(&mut tx, *room_id, *user_id, userdata, *now_s).await?,
            Write::EndAllSessions { ilias8, now_s } => {
                if *ilias8 {
                    chatroom::close_private_rooms(&mut tx, *now_s).await?;
                }
                chatroom::end_all_sessions(&mut tx, *now_s).await?;
            }
            Write::ConversationInsert {
                id,
                is_group,
                participants,
            } => {
                let participants = fit_json(participants, narrow.osc_participants, "conversation");
                osc::insert_conversation(&mut tx, id, *is_group, &participants).await?
            }
            Write::ConversationUpdate {
                id,
                is_group,
                participants,
            } => {
                let participants = fit_json(participants, narrow.osc_participants, "conversation");
                osc::update_conversation(&mut tx, id, *is_group, &participants).await?
            }
            Write::ConversationMessage {
                id,
                conversation_id,
                user_id,
                message,
                timestamp_ms,
            } => {
                let message = fit_text(message, narrow.osc_message, "conversation message");
                osc::insert_message(
                    &mut tx,
                    id,
                    conversation_id,
                    *user_id,
                    &message,
                    *timestamp_ms,
                )
                .await?
            }
            Write::Activity {
                conversation_id,
                user_id,
                timestamp_ms,
            } => osc::track_activity(&mut tx, conversation_id, *user_id, *timestamp_ms).await?,
            Write::CloseConversation {
                conversation_id,
                user_id,
                now_ms,
            } => osc::close_conversation(&mut tx, conversation_id, *user_id, *now_ms).await?,
            Write::Purge {
                bound_s,
                bound_ms,
                reply,
            } => {
                let history = chatroom::purge_history(&mut tx, *bound_s).await?;
                let osc = osc::purge(&mut tx, *bound_ms).await?;
                let report = PurgeReport {
                    history,
                    messages: osc.messages,
                    conversations: osc.conversations,
                    activity: osc.activity,
                    conversation_ids: osc.conversation_ids,
                };
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing a transaction"))?;
                reply.send(report);
                return Ok(());
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::query("committing a transaction"))
    }
}

/// Whether a failure may go away by itself (connection lost, pool exhausted), as
/// opposed to a statement the database refuses, which would fail forever.
pub fn is_transient(error: &StoreError) -> bool {
    match error {
        StoreError::Query { source, .. } | StoreError::Connect { source, .. } => match source {
            // A deadlock victim (SQLSTATE 40001) may simply try again.
            sqlx::Error::Database(db) => db.code().as_deref() == Some("40001"),
            sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => false,
            _ => true,
        },
        StoreError::NoInsertId { .. } => false,
    }
}
