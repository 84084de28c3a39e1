//! ILIAS sequence emulation (`ilDB::nextId`): ids of `chatroom_history` and
//! `chatroom_sessions` come from companion `<table>_seq` tables, never from
//! AUTO_INCREMENT on the data table, because ILIAS PHP inserts into the same tables.

use sqlx::AnyConnection;

use super::{Dialect, StoreError};

/// Most rows one sequence INSERT draws (one statement per this many ids).
const RESERVE_CHUNK: usize = 1000;

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

    fn insert_many_sql(self, count: usize) -> String {
        let values = vec!["(NULL)"; count].join(",");
        format!("INSERT INTO {} (sequence) VALUES {values}", self.table())
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

/// How the database hands out AUTO_INCREMENT values to a multi-row INSERT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// The rows of one INSERT get consecutive values (InnoDB lock modes 0 and 1, the
    /// default of MariaDB; SQLite with its single writer).
    Consecutive,
    /// Values of one statement may interleave with other sessions' (InnoDB lock mode
    /// 2, "interleaved", MySQL 8's default): the ids are drawn one statement each.
    Interleaved,
}

/// Asks the database which [`Allocation`] applies.
pub async fn allocation(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Result<Allocation, StoreError> {
    if dialect == Dialect::Sqlite {
        return Ok(Allocation::Consecutive);
    }
    let mode: i64 = sqlx::query_scalar("SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED)")
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::query("reading innodb_autoinc_lock_mode"))?;
    Ok(if mode == 2 {
        Allocation::Interleaved
    } else {
        Allocation::Consecutive
    })
}

/// Draws `count` ids from a sequence table at once, the way ILIAS PHP's `nextId` draws
/// one: rows are inserted into `<table>_seq` (PHP's concurrent `nextId` calls insert
/// into the same table, so the database's AUTO_INCREMENT counter keeps every id
/// unique), then every row below the highest id is deleted, as PHP does, so the table
/// keeps one row. One multi-row INSERT draws up to 1,000 ids when the database hands
/// them out consecutively (MySQL reports the first one); otherwise one INSERT per id.
/// Runs outside of any transaction of the caller's, so the ids are burnt even when the
/// rows that use them are rolled back, and a retry reuses them.
pub async fn reserve(
    conn: &mut AnyConnection,
    dialect: Dialect,
    allocation: Allocation,
    sequence: Sequence,
    count: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(count);
    if allocation == Allocation::Interleaved {
        for _ in 0..count {
            ids.push(insert_one(conn, sequence).await?);
        }
    } else {
        while ids.len() < count {
            let chunk = (count - ids.len()).min(RESERVE_CHUNK);
            let inserted = sqlx::query(sqlx::AssertSqlSafe(sequence.insert_many_sql(chunk)))
                .execute(&mut *conn)
                .await
                .map_err(StoreError::query("drawing sequence ids"))?;
            if inserted.rows_affected() != chunk as u64 {
                return Err(StoreError::NoInsertId {
                    table: sequence.table(),
                });
            }
            let first = match (dialect, inserted.last_insert_id()) {
                // MySQL reports the first id of a multi-row INSERT.
                (Dialect::Mysql, Some(first)) => first,
                // SQLite reports the last one (and only through its own function).
                _ => last_insert_rowid(conn, sequence).await? - chunk as i64 + 1,
            };
            ids.extend(first..first + chunk as i64);
        }
    }
    if let Some(highest) = ids.iter().max() {
        sqlx::query(sequence.cleanup_sql())
            .bind(*highest)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::query("trimming a sequence table"))?;
    }
    Ok(ids)
}

async fn insert_one(conn: &mut AnyConnection, sequence: Sequence) -> Result<i64, StoreError> {
    let inserted = sqlx::query(sequence.insert_sql())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::query("drawing a sequence id"))?;
    match inserted.last_insert_id() {
        Some(id) => Ok(id),
        None => last_insert_rowid(conn, sequence).await,
    }
}

async fn last_insert_rowid(
    conn: &mut AnyConnection,
    sequence: Sequence,
) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>("SELECT last_insert_rowid()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|_| StoreError::NoInsertId {
            table: sequence.table(),
        })
}
