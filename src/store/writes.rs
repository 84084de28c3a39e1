//! The statements the chat server writes, one [`Write`] each. They go through the
//! per-client [`WriteQueue`](super::WriteQueue), so message delivery never waits for
//! the database and the order of writes is the order of events.

use std::sync::{Arc, Mutex};

use sqlx::{AnyConnection, Row};
use tokio::sync::oneshot;

use super::charset::{fit_json, fit_text};
use super::sequence::{Sequence, next_id};
use super::{Store, StoreError};

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
                insert_history(&mut tx, *room_id, *sub_room, &message, *timestamp_s).await?
            }
            Write::EndSessions {
                user_id,
                room_ids,
                private_rooms,
                emptied_private_rooms,
                now_s,
            } => {
                end_user_sessions(&mut tx, *user_id, room_ids, *now_s).await?;
                end_private_sessions(
                    &mut tx,
                    *user_id,
                    private_rooms,
                    emptied_private_rooms,
                    *now_s,
                )
                .await?;
            }
            Write::EndAllSessions { ilias8, now_s } => {
                if *ilias8 {
                    close_private_rooms(&mut tx, *now_s).await?;
                }
                end_all_sessions(&mut tx, *now_s).await?;
            }
            Write::ConversationInsert {
                id,
                is_group,
                participants,
            } => {
                let participants = fit_json(participants, narrow.osc_participants, "conversation");
                sqlx::query(
                    "INSERT INTO osc_conversation (id, is_group, participants) VALUES (?, ?, ?)",
                )
                .bind(id.as_str())
                .bind(i64::from(*is_group))
                .bind(participants.as_ref())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("storing a conversation"))?;
            }
            Write::ConversationUpdate {
                id,
                is_group,
                participants,
            } => {
                let participants = fit_json(participants, narrow.osc_participants, "conversation");
                sqlx::query(
                    "UPDATE osc_conversation SET participants = ?, is_group = ? WHERE id = ?",
                )
                .bind(participants.as_ref())
                .bind(i64::from(*is_group))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("updating a conversation"))?;
            }
            Write::ConversationMessage {
                id,
                conversation_id,
                user_id,
                message,
                timestamp_ms,
            } => {
                let message = fit_text(message, narrow.osc_message, "conversation message");
                sqlx::query(
                    "INSERT INTO osc_messages (id, conversation_id, user_id, message, timestamp) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(id.as_str())
                .bind(conversation_id.as_str())
                .bind(*user_id)
                .bind(message.as_ref())
                .bind(*timestamp_ms)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("storing a conversation message"))?;
            }
            Write::Activity {
                conversation_id,
                user_id,
                timestamp_ms,
            } => track_activity(&mut tx, conversation_id, *user_id, *timestamp_ms).await?,
            Write::CloseConversation {
                conversation_id,
                user_id,
                now_ms,
            } => {
                sqlx::query(
                    "UPDATE osc_activity SET is_closed = 1, timestamp = ? \
                     WHERE conversation_id = ? AND user_id = ?",
                )
                .bind(*now_ms)
                .bind(conversation_id.as_str())
                .bind(*user_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("closing a conversation"))?;
            }
            Write::Purge {
                bound_s,
                bound_ms,
                reply,
            } => {
                let report = purge(&mut tx, *bound_s, *bound_ms).await?;
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

async fn insert_history(
    conn: &mut AnyConnection,
    room_id: i64,
    sub_room: Option<i64>,
    message: &str,
    timestamp_s: i64,
) -> Result<(), StoreError> {
    let hist_id = next_id(conn, Sequence::ChatroomHistory).await?;
    let query = match sub_room {
        Some(sub_room) => sqlx::query(
            "INSERT INTO chatroom_history (hist_id, room_id, message, timestamp, sub_room) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(hist_id)
        .bind(room_id)
        .bind(message)
        .bind(timestamp_s)
        .bind(sub_room),
        None => sqlx::query(
            "INSERT INTO chatroom_history (hist_id, room_id, message, timestamp) VALUES (?, ?, ?, ?)",
        )
        .bind(hist_id)
        .bind(room_id)
        .bind(message)
        .bind(timestamp_s),
    };
    query
        .execute(conn)
        .await
        .map_err(StoreError::query("storing a chat history entry"))?;
    Ok(())
}

/// A `chatroom_users` row.
struct Presence {
    room_id: i64,
    user_id: i64,
    userdata: String,
    connected: i64,
}

fn presence_of(row: &sqlx::any::AnyRow) -> Result<Presence, sqlx::Error> {
    Ok(Presence {
        room_id: row.try_get("room_id")?,
        user_id: row.try_get("user_id")?,
        userdata: row.try_get("userdata")?,
        connected: row.try_get("connected")?,
    })
}

/// Copies each row into `chatroom_sessions` and deletes exactly the rows copied (so a
/// row PHP writes meanwhile is kept).
async fn move_to_sessions(
    conn: &mut AnyConnection,
    rows: Vec<Presence>,
    now_s: i64,
) -> Result<(), StoreError> {
    for row in rows {
        let sess_id = next_id(conn, Sequence::ChatroomSessions).await?;
        sqlx::query(
            "INSERT INTO chatroom_sessions (sess_id, room_id, user_id, userdata, connected, disconnected) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(sess_id)
        .bind(row.room_id)
        .bind(row.user_id)
        .bind(row.userdata)
        .bind(row.connected)
        .bind(now_s)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("storing a chat session"))?;
        sqlx::query("DELETE FROM chatroom_users WHERE room_id = ? AND user_id = ?")
            .bind(row.room_id)
            .bind(row.user_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("removing a user from a chat room"))?;
    }
    Ok(())
}

const PRESENCE_COLUMNS: &str = "SELECT room_id, user_id, userdata, connected FROM chatroom_users";

async fn end_all_sessions(conn: &mut AnyConnection, now_s: i64) -> Result<(), StoreError> {
    let rows = sqlx::query(PRESENCE_COLUMNS)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::query("reading chat room users"))?;
    let rows = rows
        .iter()
        .map(presence_of)
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::query("reading chat room users"))?;
    let count = rows.len();
    move_to_sessions(conn, rows, now_s).await?;
    if count > 0 {
        tracing::info!(sessions = count, "chat room users moved to sessions");
    }
    Ok(())
}

async fn end_user_sessions(
    conn: &mut AnyConnection,
    user_id: i64,
    room_ids: &[i64],
    now_s: i64,
) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    for room_id in room_ids {
        let found = sqlx::query(
            "SELECT room_id, user_id, userdata, connected FROM chatroom_users WHERE user_id = ? AND room_id = ?",
        )
        .bind(user_id)
        .bind(*room_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::query("reading chat room users"))?;
        for row in &found {
            rows.push(presence_of(row).map_err(StoreError::query("reading chat room users"))?);
        }
    }
    move_to_sessions(conn, rows, now_s).await
}

async fn end_private_sessions(
    conn: &mut AnyConnection,
    user_id: i64,
    private_rooms: &[i64],
    emptied: &[i64],
    now_s: i64,
) -> Result<(), StoreError> {
    for proom_id in private_rooms {
        sqlx::query(
            "UPDATE chatroom_psessions SET disconnected = ? WHERE user_id = ? AND proom_id = ? AND disconnected = 0",
        )
        .bind(now_s)
        .bind(user_id)
        .bind(*proom_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("ending a private room session"))?;
    }
    for proom_id in emptied {
        sqlx::query("UPDATE chatroom_prooms SET closed = ? WHERE proom_id = ? AND (closed = 0 OR closed IS NULL)")
            .bind(now_s)
            .bind(*proom_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("closing a private room"))?;
    }
    Ok(())
}

/// ILIAS 8: no private room survives a restart of the chat server. Only open sessions
/// and rooms are touched, so earlier disconnect and close times stay as they were.
async fn close_private_rooms(conn: &mut AnyConnection, now_s: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE chatroom_psessions SET disconnected = ? WHERE disconnected = 0")
        .bind(now_s)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("ending private room sessions"))?;
    sqlx::query("UPDATE chatroom_prooms SET closed = ? WHERE closed = 0 OR closed IS NULL")
        .bind(now_s)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("closing private rooms"))?;
    Ok(())
}

async fn track_activity(
    conn: &mut AnyConnection,
    conversation_id: &str,
    user_id: i64,
    timestamp_ms: i64,
) -> Result<(), StoreError> {
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM osc_activity WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::query("reading conversation activity"))?;
    if existing.unwrap_or(0) == 0 {
        sqlx::query(
            "INSERT INTO osc_activity (conversation_id, user_id, timestamp) VALUES (?, ?, ?)",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(timestamp_ms)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("storing conversation activity"))?;
    } else if timestamp_ms > 0 {
        sqlx::query(
            "UPDATE osc_activity SET timestamp = ?, is_closed = 0 \
             WHERE conversation_id = ? AND user_id = ?",
        )
        .bind(timestamp_ms)
        .bind(conversation_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("updating conversation activity"))?;
    }
    Ok(())
}

/// The four purge steps of the original, as portable statements (`NOT EXISTS` instead
/// of MySQL's multi-table `DELETE … LEFT JOIN`).
async fn purge(
    conn: &mut AnyConnection,
    bound_s: i64,
    bound_ms: i64,
) -> Result<PurgeReport, StoreError> {
    let history = sqlx::query("DELETE FROM chatroom_history WHERE timestamp < ?")
        .bind(bound_s)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("purging chat room history"))?
        .rows_affected();
    let messages = sqlx::query("DELETE FROM osc_messages WHERE timestamp < ?")
        .bind(bound_ms)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("purging conversation messages"))?
        .rows_affected();
    let conversation_ids: Vec<String> = sqlx::query_scalar(
        "SELECT c.id FROM osc_conversation c WHERE NOT EXISTS \
         (SELECT 1 FROM osc_messages m WHERE m.conversation_id = c.id)",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::query("finding conversations without messages"))?;
    let conversations = sqlx::query(
        "DELETE FROM osc_conversation WHERE NOT EXISTS \
         (SELECT 1 FROM osc_messages m WHERE m.conversation_id = osc_conversation.id)",
    )
    .execute(&mut *conn)
    .await
    .map_err(StoreError::query("purging conversations without messages"))?
    .rows_affected();
    let activity = sqlx::query(
        "DELETE FROM osc_activity WHERE NOT EXISTS \
         (SELECT 1 FROM osc_conversation c WHERE c.id = osc_activity.conversation_id)",
    )
    .execute(&mut *conn)
    .await
    .map_err(StoreError::query(
        "purging activity of vanished conversations",
    ))?
    .rows_affected();
    Ok(PurgeReport {
        history,
        messages,
        conversations,
        activity,
        conversation_ids,
    })
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
