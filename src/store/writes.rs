//! The statements the chat server writes, one [`Write`] each. They go through the
//! per-client [`WriteQueue`](super::WriteQueue), so message delivery never waits for
//! the database and the order of writes is the order of events.

use sqlx::{AnyConnection, Row};

use super::sequence::{Sequence, next_id};
use super::{Store, StoreError};

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
}

impl Write {
    /// What this write does, for logs.
    pub fn describe(&self) -> String {
        match self {
            Write::History { room_id, .. } => format!("history entry for room {room_id}"),
            Write::EndSessions { user_id, .. } => format!("end of the sessions of user {user_id}"),
            Write::EndAllSessions { .. } => "end of all sessions".to_string(),
        }
    }

    /// Applies the write. Multi-statement writes run in one transaction, so a retry
    /// after a failure never duplicates rows.
    pub async fn apply(&self, store: &Store) -> Result<(), StoreError> {
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
            } => insert_history(&mut tx, *room_id, *sub_room, message, *timestamp_s).await?,
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
