//! The demo's own SQLite database (`ilias-chat --demo`): its schema, and the accounts
//! ILIAS would keep in `usr_data` and `usr_pref`. Never used on an ILIAS database.

use super::{Store, StoreError};

/// Runs the `;`-separated statements of a schema script (`--` comment lines allowed).
pub async fn create_schema(store: &Store, script: &str) -> Result<(), StoreError> {
    for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let sql = statement
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        if sql.trim().is_empty() {
            continue;
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await
            .map_err(StoreError::query("creating the demo schema"))?;
    }
    Ok(())
}

/// The user id of a name, created (from 1000 on) on first use, as an ILIAS account.
/// Kept in the database, so ids survive restarts with the conversations that use them.
pub async fn user_id_of(store: &Store, name: &str) -> Result<i64, StoreError> {
    let what = "creating a demo user";
    sqlx::query(
        "INSERT OR IGNORE INTO usr_data (usr_id, login) \
         SELECT COALESCE(MAX(usr_id), 999) + 1, ? FROM usr_data",
    )
    .bind(name)
    .execute(store.pool())
    .await
    .map_err(StoreError::query(what))?;
    let id: i64 = sqlx::query_scalar("SELECT usr_id FROM usr_data WHERE login = ?")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::query(what))?;
    // ILIAS users opt in to on-screen chat messages; the demo's users do.
    sqlx::query(
        "INSERT OR REPLACE INTO usr_pref (usr_id, keyword, value) \
         VALUES (?, 'chat_osc_accept_msg', 'y')",
    )
    .bind(id)
    .execute(store.pool())
    .await
    .map_err(StoreError::query(what))?;
    Ok(id)
}

/// Everyone who entered the demo so far, by name: `(id, name)`.
pub async fn users(store: &Store) -> Result<Vec<(i64, String)>, StoreError> {
    sqlx::query_as("SELECT usr_id, login FROM usr_data ORDER BY login")
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::query("listing demo users"))
}

/// The room's last `limit` public messages as stored (`chatroom_history.message` JSON),
/// oldest first — what ILIAS PHP's `getLastMessages` puts on the room page, with the
/// same `LIKE` filters on the JSON text (whispers are left out).
pub async fn last_public_messages(
    store: &Store,
    room_id: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT message FROM chatroom_history \
         WHERE room_id = ? AND message LIKE '%\"type\":\"message\"%' \
         AND message NOT LIKE '%\"public\":0%' \
         ORDER BY hist_id DESC LIMIT ?",
    )
    .bind(room_id)
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading the demo room's last messages"))?;
    rows.reverse();
    Ok(rows)
}
