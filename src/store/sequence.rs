//! ILIAS sequence emulation (`ilDB::nextId`): ids of `chatroom_history` and
//! `chatroom_sessions` come from companion `<table>_seq` tables, never from
//! AUTO_INCREMENT on the data table, because ILIAS PHP inserts into the same tables.

use sqlx::AnyConnection;

use super::StoreError;

/// The sequence tables the chat server draws ids from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    ChatroomHistory,
    ChatroomSessions,
}

impl Sequence {
    /// The `<table>_seq` table name.
    pub fn table(self) -> &'static str {
        match self {
            Sequence::ChatroomHistory => "chatroom_history_seq",
            Sequence::ChatroomSessions => "chatroom_sessions_seq",
        }
    }

    fn insert_sql(self) -> &'static str {
        match self {
            Sequence::ChatroomHistory => {
                "INSERT INTO chatroom_history_seq (sequence) VALUES (NULL)"
            }
            Sequence::ChatroomSessions => {
                "INSERT INTO chatroom_sessions_seq (sequence) VALUES (NULL)"
            }
        }
    }

    fn cleanup_sql(self) -> &'static str {
        match self {
            Sequence::ChatroomHistory => "DELETE FROM chatroom_history_seq WHERE sequence < ?",
            Sequence::ChatroomSessions => "DELETE FROM chatroom_sessions_seq WHERE sequence < ?",
        }
    }
}

/// Inserts a row into the sequence table, takes its id and deletes the lower ones, as
/// ILIAS PHP does. The insert id comes back with the INSERT itself, so concurrent
/// callers on different connections can never get the same id. Takes a connection (or
/// a transaction) so that callers inside a transaction stay on it.
pub async fn next_id(conn: &mut AnyConnection, sequence: Sequence) -> Result<i64, StoreError> {
    let inserted = sqlx::query(sequence.insert_sql())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("drawing a sequence id"))?;
    let id = match inserted.last_insert_id() {
        Some(id) => id,
        // sqlx's SQLite driver does not report insert ids through `Any`; MySQL always
        // does, so this query only ever runs on SQLite (the demo).
        None => sqlx::query_scalar::<_, i64>("SELECT last_insert_rowid()")
            .fetch_one(&mut *conn)
            .await
            .map_err(|_| StoreError::NoInsertId {
                table: sequence.table(),
            })?,
    };
    sqlx::query(sequence.cleanup_sql())
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("trimming a sequence table"))?;
    Ok(id)
}
