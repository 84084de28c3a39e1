//! The units of work the chat server writes, one [`Write`] each. They go through the
//! per-client [`WriteQueue`](super::WriteQueue), so message delivery never waits for
//! the database and the order of writes is the order of events. The statements
//! themselves are in [`chatroom`](super::chatroom) and [`osc`](super::osc).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tokio::sync::oneshot;

use super::charset::{NarrowColumns, fit_json, fit_text};
use super::{Dialect, StoreError, chatroom, osc};

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

/// One unit of work for the database, applied in order. Serialisable, because writes
/// that wait for the database are kept in the on-disk journal (all but the purge,
/// which runs again the next day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    /// ILIAS 8 start-up after a restart with a snapshot: these private rooms (open in
    /// the database, not in the snapshot) are closed and their sessions end, as the
    /// original's start-up does for every private room.
    ClosePrivateRooms { proom_ids: Vec<i64>, now_s: i64 },
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
    #[serde(skip)]
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
            Write::ClosePrivateRooms { proom_ids, .. } => {
                format!("close of {} private rooms", proom_ids.len())
            }
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

    /// Puts the write in a form the database's columns accept: 4-byte characters in
    /// text columns that cannot hold them (3-byte `utf8`) are replaced, see
    /// [`charset`](super::charset). Idempotent: a retry fits again to the same text.
    pub(super) fn fit_columns(&mut self, narrow: &NarrowColumns) {
        // Only columns that are 3-byte are rewritten: this runs for every write of every
        // batch, and on a utf8mb4 database it must cost nothing.
        match self {
            Write::History { message, .. } if narrow.history => {
                *message = fit_json(message, true, "chat history entry").into_owned();
            }
            Write::ConversationInsert { participants, .. }
            | Write::ConversationUpdate { participants, .. }
                if narrow.osc_participants =>
            {
                *participants = fit_json(participants, true, "conversation").into_owned();
            }
            Write::ConversationMessage { message, .. } if narrow.osc_message => {
                *message = fit_text(message, true, "conversation message").into_owned();
            }
            _ => {}
        }
    }

    /// Whether this write runs in a transaction of its own, never batched with others:
    /// the purge and the end of all sessions touch many rows that other writes may
    /// have queued before them.
    pub fn is_barrier(&self) -> bool {
        matches!(self, Write::Purge { .. } | Write::EndAllSessions { .. })
    }

    /// Whether the row needs an id from an ILIAS sequence, drawn once before the first
    /// attempt to write it.
    pub fn needs_sequence_id(&self) -> bool {
        matches!(self, Write::History { .. })
    }

    /// Roughly how much memory the write holds (for the queue's memory bound).
    pub fn approx_bytes(&self) -> usize {
        const OVERHEAD: usize = 96;
        OVERHEAD
            + match self {
                Write::History { message, .. } => message.len(),
                Write::EndSessions {
                    room_ids,
                    private_rooms,
                    emptied_private_rooms,
                    ..
                } => 8 * (room_ids.len() + private_rooms.len() + emptied_private_rooms.len()),
                Write::EndAllSessions { .. } | Write::Purge { .. } => 0,
                Write::ClosePrivateRooms { proom_ids, .. } => 8 * proom_ids.len(),
                Write::RestorePresence { userdata, .. } => userdata.len(),
                Write::ConversationInsert {
                    id, participants, ..
                }
                | Write::ConversationUpdate {
                    id, participants, ..
                } => id.len() + participants.len(),
                Write::ConversationMessage {
                    id,
                    conversation_id,
                    message,
                    ..
                } => id.len() + conversation_id.len() + message.len(),
                Write::Activity {
                    conversation_id, ..
                }
                | Write::CloseConversation {
                    conversation_id, ..
                } => conversation_id.len(),
            }
    }

    /// Applies a write that is not part of a multi-row INSERT, inside the caller's
    /// transaction. History entries and on-screen chat messages are inserted by
    /// [`batch`](super::batch) instead. Returns the purge report for a purge.
    pub(super) async fn apply_in(
        &self,
        conn: &mut AnyConnection,
        dialect: Dialect,
    ) -> Result<Option<PurgeReport>, StoreError> {
        match self {
            Write::History { .. } | Write::ConversationMessage { .. } => {}
            Write::EndSessions {
                user_id,
                room_ids,
                private_rooms,
                emptied_private_rooms,
                now_s,
            } => {
                chatroom::end_user_sessions(conn, *user_id, room_ids, *now_s).await?;
                chatroom::end_private_sessions(
                    conn,
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
            } => chatroom::restore_presence(conn, *room_id, *user_id, userdata, *now_s).await?,
            Write::ClosePrivateRooms { proom_ids, now_s } => {
                chatroom::close_these_private_rooms(conn, proom_ids, *now_s).await?
            }
            Write::EndAllSessions { ilias8, now_s } => {
                if *ilias8 {
                    chatroom::close_private_rooms(conn, *now_s).await?;
                }
                chatroom::end_all_sessions(conn, *now_s).await?;
            }
            Write::ConversationInsert {
                id,
                is_group,
                participants,
            } => osc::insert_conversation(conn, dialect, id, *is_group, participants).await?,
            Write::ConversationUpdate {
                id,
                is_group,
                participants,
            } => osc::update_conversation(conn, id, *is_group, participants).await?,
            Write::Activity {
                conversation_id,
                user_id,
                timestamp_ms,
            } => osc::track_activity(conn, conversation_id, *user_id, *timestamp_ms).await?,
            Write::CloseConversation {
                conversation_id,
                user_id,
                now_ms,
            } => osc::close_conversation(conn, conversation_id, *user_id, *now_ms).await?,
            Write::Purge {
                bound_s, bound_ms, ..
            } => {
                let history = chatroom::purge_history(conn, *bound_s).await?;
                let osc = osc::purge(conn, *bound_ms).await?;
                return Ok(Some(PurgeReport {
                    history,
                    messages: osc.messages,
                    conversations: osc.conversations,
                    activity: osc.activity,
                    conversation_ids: osc.conversation_ids,
                }));
            }
        }
        Ok(None)
    }

    /// Hands the purge report to whoever waits for it.
    pub(super) fn answer(&self, report: PurgeReport) {
        if let Write::Purge { reply, .. } = self {
            reply.send(report);
        }
    }
}

/// Whether the database refused a write for good: the same statement with the same
/// values would fail again (a value that does not fit its column, a constraint). Such
/// writes go to the dead-letter file. Everything else (connection lost, timeouts, a
/// table or a grant missing, deadlocks) may pass and is retried.
pub fn is_permanent(error: &StoreError) -> bool {
    match error {
        StoreError::Query { source, .. } | StoreError::Connect { source, .. } => match source {
            sqlx::Error::Database(db) => {
                let class = db
                    .code()
                    .map(|code| code.chars().take(2).collect::<String>());
                // SQLSTATE 22 (data exception) and 23 (integrity constraint), and
                // MySQL's "incorrect value" errors that report the generic HY000.
                matches!(class.as_deref(), Some("22" | "23"))
                    || db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|my| matches!(my.number(), 1265 | 1292 | 1366 | 1406))
            }
            sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::TypeNotFound { .. } => true,
            _ => false,
        },
        StoreError::NoInsertId { .. } => true,
        StoreError::Timeout { .. } | StoreError::Unavailable => false,
    }
}

/// Whether a failure may go away by itself (the opposite of [`is_permanent`]).
pub fn is_transient(error: &StoreError) -> bool {
    !is_permanent(error)
}
