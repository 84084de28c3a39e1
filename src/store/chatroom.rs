//! The `chatroom_*` tables (repository chat rooms): what the chat server reads at
//! start-up and when a room is unknown, and the statements of the writes
//! ([`Write`](super::Write)) that keep history and sessions.

use sqlx::{AnyConnection, Row};

use super::sequence::{Sequence, next_id};
use super::sql::{keep_existing, placeholders};
use super::{Dialect, LOAD_TIMEOUT, Store, StoreError};

/// Whether ILIAS has this chat room (`chatroom_settings`).
pub async fn room_exists(store: &Store, room_id: i64) -> Result<bool, StoreError> {
    store
        .bounded("looking up a chat room", async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM chatroom_settings WHERE room_id = ?")
                .bind(room_id)
                .fetch_one(store.pool())
                .await
                .map(|count| count > 0)
                .map_err(StoreError::query("looking up a chat room"))
        })
        .await
}

/// An open ILIAS 8 private room of a chat room: its title and owner.
pub async fn open_private_room(
    store: &Store,
    room_id: i64,
    proom_id: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    store
        .bounded("looking up a private room", async {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT title, owner FROM chatroom_prooms \
         WHERE proom_id = ? AND parent_id = ? AND (closed = 0 OR closed IS NULL)",
            )
            .bind(proom_id)
            .bind(room_id)
            .fetch_optional(store.pool())
            .await
            .map_err(StoreError::query("looking up a private room"))
        })
        .await
}

/// Every chat room ILIAS has.
pub async fn room_ids(store: &Store) -> Result<Vec<i64>, StoreError> {
    store
        .bounded_for("loading chat rooms", LOAD_TIMEOUT, async {
            sqlx::query_scalar("SELECT room_id FROM chatroom_settings")
                .fetch_all(store.pool())
                .await
                .map_err(StoreError::query("loading chat rooms"))
        })
        .await
}

/// `(room_id, user_id)` of every `chatroom_users` row (users ILIAS shows as present).
pub async fn present_users(store: &Store) -> Result<Vec<(i64, i64)>, StoreError> {
    sqlx::query_as::<_, (i64, i64)>("SELECT room_id, user_id FROM chatroom_users")
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::query("reading chat room users"))
}

/// Inserts the `chatroom_users` row of a user who is present again, unless PHP (or an
/// earlier write) made one: PHP's `connectUser` does the same check.
pub(super) async fn restore_presence(
    conn: &mut AnyConnection,
    room_id: i64,
    user_id: i64,
    userdata: &str,
    now_s: i64,
) -> Result<(), StoreError> {
    let existing = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM chatroom_users WHERE room_id = ? AND user_id = ?",
    )
    .bind(room_id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::query("reading chat room users"))?;
    if existing > 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO chatroom_users (room_id, user_id, userdata, connected) VALUES (?, ?, ?, ?)",
    )
    .bind(room_id)
    .bind(user_id)
    .bind(userdata)
    .bind(now_s)
    .execute(conn)
    .await
    .map_err(StoreError::query(
        "restoring a user's presence in a chat room",
    ))?;
    Ok(())
}

/// A `chatroom_history` row to insert, its id drawn already.
pub(super) struct HistoryRow<'a> {
    pub hist_id: i64,
    pub room_id: i64,
    pub sub_room: Option<i64>,
    pub message: &'a str,
    pub timestamp_s: i64,
}

/// Inserts history rows with one multi-row INSERT. A row whose id is there already
/// (a replay of a batch whose COMMIT answer was lost) is left as it is.
pub(super) async fn insert_history_rows(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[HistoryRow<'_>],
) -> Result<(), StoreError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    // ILIAS 8 has the `sub_room` column, later releases do not; one client is one
    // generation, so all rows of a batch are alike.
    let with_sub_room = first.sub_room.is_some();
    let (columns, width) = if with_sub_room {
        ("hist_id, room_id, message, timestamp, sub_room", 5)
    } else {
        ("hist_id, room_id, message, timestamp", 4)
    };
    let sql = format!(
        "INSERT INTO chatroom_history ({columns}) VALUES {}{}",
        placeholders(rows.len(), width),
        keep_existing(dialect, "hist_id")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        query = query
            .bind(row.hist_id)
            .bind(row.room_id)
            .bind(row.message)
            .bind(row.timestamp_s);
        if with_sub_room {
            query = query.bind(row.sub_room.unwrap_or(0));
        }
    }
    query
        .execute(conn)
        .await
        .map_err(StoreError::query("storing chat history entries"))?;
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

pub(super) async fn end_all_sessions(
    conn: &mut AnyConnection,
    now_s: i64,
) -> Result<(), StoreError> {
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

pub(super) async fn end_user_sessions(
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

pub(super) async fn end_private_sessions(
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

/// ILIAS 8, after a restart with a snapshot: the private rooms the snapshot does not
/// have are closed and their open sessions end (the original's start-up, for them).
pub(super) async fn close_these_private_rooms(
    conn: &mut AnyConnection,
    proom_ids: &[i64],
    now_s: i64,
) -> Result<(), StoreError> {
    for proom_id in proom_ids {
        sqlx::query(
            "UPDATE chatroom_psessions SET disconnected = ? WHERE proom_id = ? AND disconnected = 0",
        )
        .bind(now_s)
        .bind(*proom_id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("ending private room sessions"))?;
        sqlx::query("UPDATE chatroom_prooms SET closed = ? WHERE proom_id = ? AND (closed = 0 OR closed IS NULL)")
            .bind(now_s)
            .bind(*proom_id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("closing a private room"))?;
    }
    Ok(())
}

/// ILIAS 8: the private rooms open in the database (`proom_id`).
pub async fn open_private_rooms(store: &Store) -> Result<Vec<i64>, StoreError> {
    sqlx::query_scalar::<_, i64>(
        "SELECT proom_id FROM chatroom_prooms WHERE closed = 0 OR closed IS NULL",
    )
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading open private rooms"))
}

/// ILIAS 8: the open private-room sessions, `(proom_id, user_id)`.
pub async fn open_private_sessions(store: &Store) -> Result<Vec<(i64, i64)>, StoreError> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT proom_id, user_id FROM chatroom_psessions WHERE disconnected = 0",
    )
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading open private room sessions"))
}

/// ILIAS 8: no private room survives a restart of the chat server. Only open sessions
/// and rooms are touched, so earlier disconnect and close times stay as they were.
pub(super) async fn close_private_rooms(
    conn: &mut AnyConnection,
    now_s: i64,
) -> Result<(), StoreError> {
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

/// The first purge step: chat-room history older than the bound (seconds).
pub(super) async fn purge_history(
    conn: &mut AnyConnection,
    bound_s: i64,
) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM chatroom_history WHERE timestamp < ?")
            .bind(bound_s)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("purging chat room history"))?
            .rows_affected(),
    )
}
