//! The ILIAS tables and columns this server reads and writes, and the check that a
//! database has them (`ilias-chat --check --connect`). The lists follow the statements
//! in [`super::chatroom`], [`super::osc`] and [`super::sequence`]; keep them in step.

use std::collections::{BTreeMap, BTreeSet};

use super::{Dialect, Store, StoreError};
use crate::config::Generation;

/// Tables every generation needs, with the columns used.
const ALWAYS: &[(&str, &[&str])] = &[
    ("chatroom_settings", &["room_id"]),
    (
        "chatroom_users",
        &["room_id", "user_id", "userdata", "connected"],
    ),
    (
        "chatroom_sessions",
        &[
            "sess_id",
            "room_id",
            "user_id",
            "userdata",
            "connected",
            "disconnected",
        ],
    ),
    ("chatroom_sessions_seq", &["sequence"]),
    (
        "chatroom_history",
        &["hist_id", "room_id", "message", "timestamp"],
    ),
    ("chatroom_history_seq", &["sequence"]),
    ("osc_conversation", &["id", "is_group", "participants"]),
    (
        "osc_messages",
        &["id", "conversation_id", "user_id", "message", "timestamp"],
    ),
    (
        "osc_activity",
        &["conversation_id", "user_id", "timestamp", "is_closed"],
    ),
    ("usr_pref", &["usr_id", "keyword", "value"]),
];

/// What only ILIAS 8 (private rooms) needs.
const ILIAS8: &[(&str, &[&str])] = &[
    ("chatroom_history", &["sub_room"]),
    (
        "chatroom_prooms",
        &["proom_id", "parent_id", "title", "owner", "closed"],
    ),
    (
        "chatroom_psessions",
        &["proom_id", "user_id", "disconnected"],
    ),
];

/// The tables and columns the server uses with this generation.
pub fn required(generation: Generation) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let extra: &[(&str, &[&str])] = match generation {
        Generation::Ilias8 => ILIAS8,
        Generation::Ilias9 | Generation::Ilias10 | Generation::Ilias11 | Generation::Ilias12 => &[],
    };
    for (table, columns) in ALWAYS.iter().chain(extra) {
        wanted.entry(table).or_default().extend(columns.iter());
    }
    wanted
}

impl Store {
    /// What the database lacks of [`required`]: one sentence per missing table or
    /// column; empty when everything is there.
    pub async fn missing_schema(&self, generation: Generation) -> Result<Vec<String>, StoreError> {
        let sql = match self.dialect() {
            Dialect::Mysql => {
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE()"
            }
            Dialect::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table'"
            }
        };
        let rows: Vec<(String, String)> = sqlx::query_as(sql)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::query("reading the table columns"))?;
        let mut present: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (table, column) in rows {
            present
                .entry(table.to_ascii_lowercase())
                .or_default()
                .insert(column.to_ascii_lowercase());
        }
        let mut missing = Vec::new();
        for (table, columns) in required(generation) {
            match present.get(table) {
                None => missing.push(format!("table {table} is missing")),
                Some(have) => {
                    let lacking: Vec<&str> = columns
                        .iter()
                        .filter(|c| !have.contains(**c))
                        .copied()
                        .collect();
                    if !lacking.is_empty() {
                        missing.push(format!(
                            "table {table} lacks the column{} {}",
                            if lacking.len() == 1 { "" } else { "s" },
                            lacking.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(missing)
    }
}
