//! The `osc_*` tables and the message preference in `usr_pref` (on-screen chat): the
//! reads the chat server does, and the statements of the writes
//! ([`Write`](super::Write)) that keep conversations, messages and activity.
//! Statements are portable between MySQL/MariaDB and SQLite (the demo).

use std::collections::HashSet;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::sql::{keep_existing, placeholders};
use super::{Dialect, LOAD_TIMEOUT, Store, StoreError};
use crate::ids::UserId;

/// An `osc_messages` row (also what a conversation's `latestMessage` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: String,
    pub conversation_id: String,
    pub user_id: UserId,
    pub message: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// Messages per `history` page, as in the original.
pub const HISTORY_PAGE: i64 = 6;

/// An `osc_conversation` row, participants still as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: String,
    pub is_group: bool,
    pub participants: Option<String>,
}

/// Every `osc_conversation` row.
pub async fn load_conversations(store: &Store) -> Result<Vec<ConversationRow>, StoreError> {
    store
        .bounded_for("loading conversations", LOAD_TIMEOUT, async {
            let rows = sqlx::query(
                // `+ 0` widens the tinyint, which the Any driver cannot decode.
                "SELECT id, is_group + 0 AS is_group, participants FROM osc_conversation",
            )
            .fetch_all(store.pool())
            .await
            .map_err(StoreError::query("loading conversations"))?;
            rows.iter()
                .map(|row| {
                    Ok(ConversationRow {
                        id: row.try_get("id")?,
                        is_group: int(row, "is_group")? != 0,
                        participants: row.try_get("participants")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::query("loading conversations"))
        })
        .await
}

/// An integer column of any width (MySQL `tinyint`/`int`/`bigint` decode differently).
fn int(row: &AnyRow, column: &str) -> Result<i64, sqlx::Error> {
    row.try_get::<i64, _>(column)
        .or_else(|_| row.try_get::<i32, _>(column).map(i64::from))
        .or_else(|_| row.try_get::<i16, _>(column).map(i64::from))
        .or_else(|_| row.try_get::<bool, _>(column).map(i64::from))
}

fn message_of(row: &AnyRow) -> Result<StoredMessage, sqlx::Error> {
    Ok(StoredMessage {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        user_id: int(row, "user_id")?,
        // A NULL message would break the browsers (they call string methods on it).
        message: row
            .try_get::<Option<String>, _>("message")?
            .unwrap_or_default(),
        timestamp: int(row, "timestamp")?,
    })
}

const MESSAGE_COLUMNS: &str =
    "SELECT id, conversation_id, user_id, message, timestamp FROM osc_messages";

/// The newest message of a conversation.
pub async fn latest_message(
    store: &Store,
    conversation: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    store
        .bounded("reading the latest message", async {
            let sql = format!(
                "{MESSAGE_COLUMNS} WHERE conversation_id = ? ORDER BY timestamp DESC LIMIT 1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(conversation)
                .fetch_optional(store.pool())
                .await
                .map_err(StoreError::query("reading the latest message"))?;
            row.as_ref()
                .map(message_of)
                .transpose()
                .map_err(StoreError::query("reading the latest message"))
        })
        .await
}

/// Messages of a conversation newer than the user's last activity there (0 without an
/// activity row, as in the original).
pub async fn unread_count(
    store: &Store,
    conversation: &str,
    user: UserId,
) -> Result<i64, StoreError> {
    store
        .bounded("counting unread messages", async {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(m.id) FROM osc_messages m \
         JOIN osc_activity a ON a.conversation_id = m.conversation_id \
         WHERE m.conversation_id = ? AND a.user_id = ? AND m.timestamp > a.timestamp",
            )
            .bind(conversation)
            .bind(user)
            .fetch_one(store.pool())
            .await
            .map_err(StoreError::query("counting unread messages"))
        })
        .await
}

/// Whether the user closed the conversation (`osc_activity.is_closed`).
pub async fn is_closed(
    store: &Store,
    conversation: &str,
    user: UserId,
) -> Result<bool, StoreError> {
    let read = async {
        let row = sqlx::query(
            "SELECT is_closed + 0 AS is_closed FROM osc_activity \
             WHERE conversation_id = ? AND user_id = ?",
        )
        .bind(conversation)
        .bind(user)
        .fetch_optional(store.pool())
        .await
        .map_err(StoreError::query("reading the conversation state"))?;
        match row {
            Some(row) => int(&row, "is_closed")
                .map(|closed| closed != 0)
                .map_err(StoreError::query("reading the conversation state")),
            None => Ok(false),
        }
    };
    store.bounded("reading the conversation state", read).await
}

/// One page of history: up to [`HISTORY_PAGE`] messages older than `before` (ms), or the
/// newest ones, newest first.
pub async fn history(
    store: &Store,
    conversation: &str,
    before: Option<i64>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let read = async {
        let query = match before {
            Some(before) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MESSAGE_COLUMNS} WHERE conversation_id = ? AND timestamp < ? \
                 ORDER BY timestamp DESC LIMIT {HISTORY_PAGE}"
            )))
            .bind(conversation.to_string())
            .bind(before),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MESSAGE_COLUMNS} WHERE conversation_id = ? \
                 ORDER BY timestamp DESC LIMIT {HISTORY_PAGE}"
            )))
            .bind(conversation.to_string()),
        };
        let rows = query
            .fetch_all(store.pool())
            .await
            .map_err(StoreError::query("reading conversation history"))?;
        rows.iter()
            .map(message_of)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("reading conversation history"))
    };
    store.bounded("reading conversation history", read).await
}

/// Users who accept on-screen chat messages (`usr_pref` `chat_osc_accept_msg` = `y`).
pub async fn accepting_users(store: &Store) -> Result<HashSet<UserId>, StoreError> {
    users_whose_accept_setting(store, "value = ?").await
}

/// Users with a `chat_osc_accept_msg` row that is not `y` (they decline messages).
pub async fn declining_users(store: &Store) -> Result<HashSet<UserId>, StoreError> {
    users_whose_accept_setting(store, "(value IS NULL OR value <> ?)").await
}

/// Users whose `chat_osc_accept_msg` row passes `test` (a fixed SQL condition on `value`
/// with one `?` for `y`).
async fn users_whose_accept_setting(
    store: &Store,
    test: &'static str,
) -> Result<HashSet<UserId>, StoreError> {
    let sql = format!("SELECT usr_id FROM usr_pref WHERE keyword = ? AND {test}");
    store
        .bounded_for("reading message settings", LOAD_TIMEOUT, async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind("chat_osc_accept_msg")
                .bind("y")
                .fetch_all(store.pool())
                .await
                .map_err(StoreError::query("reading message settings"))?;
            rows.iter()
                .map(|row| int(row, "usr_id"))
                .collect::<Result<_, _>>()
                .map_err(StoreError::query("reading message settings"))
        })
        .await
}

/// Inserts a conversation; a replay of the same insert (or the purge's restore of a
/// conversation that is still there) sets its participants again.
pub(super) async fn insert_conversation(
    conn: &mut AnyConnection,
    dialect: Dialect,
    id: &str,
    is_group: bool,
    participants: &str,
) -> Result<(), StoreError> {
    let sql = match dialect {
        Dialect::Mysql => {
            "INSERT INTO osc_conversation (id, is_group, participants) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE is_group = VALUES(is_group), participants = VALUES(participants)"
        }
        Dialect::Sqlite => {
            "INSERT INTO osc_conversation (id, is_group, participants) VALUES (?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET is_group = excluded.is_group, participants = excluded.participants"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(i64::from(is_group))
        .bind(participants)
        .execute(conn)
        .await
        .map_err(StoreError::query("storing a conversation"))?;
    Ok(())
}

pub(super) async fn update_conversation(
    conn: &mut AnyConnection,
    id: &str,
    is_group: bool,
    participants: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE osc_conversation SET participants = ?, is_group = ? WHERE id = ?")
        .bind(participants)
        .bind(i64::from(is_group))
        .bind(id)
        .execute(conn)
        .await
        .map_err(StoreError::query("updating a conversation"))?;
    Ok(())
}

/// An `osc_messages` row to insert.
pub(super) struct MessageRow<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub user_id: i64,
    pub message: &'a str,
    pub timestamp_ms: i64,
}

/// Inserts on-screen chat messages with one multi-row INSERT; a message whose id is
/// there already (a replay) is left as it is.
pub(super) async fn insert_message_rows(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[MessageRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO osc_messages (id, conversation_id, user_id, message, timestamp) VALUES {}{}",
        placeholders(rows.len(), 5),
        keep_existing(dialect, "id")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        query = query
            .bind(row.id)
            .bind(row.conversation_id)
            .bind(row.user_id)
            .bind(row.message)
            .bind(row.timestamp_ms);
    }
    query
        .execute(conn)
        .await
        .map_err(StoreError::query("storing conversation messages"))?;
    Ok(())
}

pub(super) async fn close_conversation(
    conn: &mut AnyConnection,
    conversation_id: &str,
    user_id: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE osc_activity SET is_closed = 1, timestamp = ? \
         WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(now_ms)
    .bind(conversation_id)
    .bind(user_id)
    .execute(conn)
    .await
    .map_err(StoreError::query("closing a conversation"))?;
    Ok(())
}

pub(super) async fn track_activity(
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

/// What the purge deleted from the `osc_*` tables.
pub(super) struct OscPurge {
    pub messages: u64,
    pub conversations: u64,
    pub activity: u64,
    pub conversation_ids: Vec<String>,
}

/// The last three purge steps of the original, as portable statements (`NOT EXISTS`
/// instead of MySQL's multi-table `DELETE … LEFT JOIN`).
pub(super) async fn purge(conn: &mut AnyConnection, bound_ms: i64) -> Result<OscPurge, StoreError> {
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
    Ok(OscPurge {
        messages,
        conversations,
        activity,
        conversation_ids,
    })
}

/// The administrator's default for `chat_osc_accept_msg` (`settings`, module
/// `common`): true when it is `y`.
pub async fn accepts_by_default(store: &Store) -> Result<bool, StoreError> {
    Ok(store
        .common_setting("chat_osc_accept_msg")
        .await?
        .as_deref()
        == Some("y"))
}
