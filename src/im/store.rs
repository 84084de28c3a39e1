//! The on-screen chat's reads from the ILIAS database. Writes never happen here: they
//! are [`Write`](crate::store::Write)s in the client's ordered queue. Statements are
//! portable between MySQL/MariaDB and SQLite (the demo).

use std::collections::HashSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::model::{StoredMessage, UserId};
use crate::store::{Store, StoreError};

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
    let sql =
        format!("{MESSAGE_COLUMNS} WHERE conversation_id = ? ORDER BY timestamp DESC LIMIT 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(conversation)
        .fetch_optional(store.pool())
        .await
        .map_err(StoreError::query("reading the latest message"))?;
    row.as_ref()
        .map(message_of)
        .transpose()
        .map_err(StoreError::query("reading the latest message"))
}

/// Messages of a conversation newer than the user's last activity there (0 without an
/// activity row, as in the original).
pub async fn unread_count(
    store: &Store,
    conversation: &str,
    user: UserId,
) -> Result<i64, StoreError> {
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
}

/// Whether the user closed the conversation (`osc_activity.is_closed`).
pub async fn is_closed(
    store: &Store,
    conversation: &str,
    user: UserId,
) -> Result<bool, StoreError> {
    let row =
        sqlx::query("SELECT is_closed + 0 AS is_closed FROM osc_activity WHERE conversation_id = ? AND user_id = ?")
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
}

/// One page of history: up to [`HISTORY_PAGE`] messages older than `before` (ms), or the
/// newest ones, newest first.
pub async fn history(
    store: &Store,
    conversation: &str,
    before: Option<i64>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let query = match before {
        Some(before) => sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MESSAGE_COLUMNS} WHERE conversation_id = ? AND timestamp < ? \
             ORDER BY timestamp DESC LIMIT {HISTORY_PAGE}"
        )))
        .bind(conversation.to_string())
        .bind(before),
        None => sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MESSAGE_COLUMNS} WHERE conversation_id = ? ORDER BY timestamp DESC LIMIT {HISTORY_PAGE}"
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
}

/// Users who accept on-screen chat messages (`usr_pref` `chat_osc_accept_msg` = `y`).
pub async fn accepting_users(store: &Store) -> Result<HashSet<UserId>, StoreError> {
    let rows = sqlx::query("SELECT usr_id FROM usr_pref WHERE keyword = ? AND value = ?")
        .bind("chat_osc_accept_msg")
        .bind("y")
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::query("reading message settings"))?;
    rows.iter()
        .map(|row| int(row, "usr_id"))
        .collect::<Result<_, _>>()
        .map_err(StoreError::query("reading message settings"))
}

/// Users with a `chat_osc_accept_msg` row that is not `y` (they decline messages).
pub async fn declining_users(store: &Store) -> Result<HashSet<UserId>, StoreError> {
    let rows = sqlx::query(
        "SELECT usr_id FROM usr_pref WHERE keyword = ? AND (value IS NULL OR value <> ?)",
    )
    .bind("chat_osc_accept_msg")
    .bind("y")
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading message settings"))?;
    rows.iter()
        .map(|row| int(row, "usr_id"))
        .collect::<Result<_, _>>()
        .map_err(StoreError::query("reading message settings"))
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
