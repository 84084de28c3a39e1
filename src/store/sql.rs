//! Pieces of SQL text that several table families' statements share.

use super::Dialect;

/// `(?, ?, …), (?, ?, …)` for a multi-row INSERT.
pub(super) fn placeholders(rows: usize, width: usize) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row.as_str(); rows].join(", ")
}

/// The clause that makes an INSERT of an existing primary key a no-op.
pub(super) fn keep_existing(dialect: Dialect, key: &str) -> String {
    match dialect {
        Dialect::Mysql => format!(" ON DUPLICATE KEY UPDATE {key} = {key}"),
        Dialect::Sqlite => " ON CONFLICT DO NOTHING".to_string(),
    }
}
