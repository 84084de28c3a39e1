//! Many queued writes in one transaction: `chatroom_history` and `osc_messages` rows
//! go in multi-row INSERTs, every other write runs its own statements in queue order.
//! Only the order of writes to the same row matters inside one transaction (they all
//! commit together), and history entries and messages are never updated, so inserting
//! them after the others keeps every row's INSERT before its UPDATE. The purge and the
//! end of all sessions never share a batch (see [`Write::is_barrier`]).

use sqlx::{AnyConnection, Connection as _};

use super::chatroom::{self, HistoryRow};
use super::osc::{self, MessageRow};
use super::{Dialect, PurgeReport, StoreError, Write};

/// Rows per multi-row INSERT: far below MySQL's 65,535 placeholders.
const ROWS_PER_INSERT: usize = 500;
/// Bytes of values per multi-row INSERT: far below the smallest `max_allowed_packet`
/// of supported servers (4 MB on MySQL 5.7).
const BYTES_PER_INSERT: usize = 2 << 20;

/// A queued write and the sequence id drawn for it (history entries only).
#[derive(Debug, Clone, Copy)]
pub(super) struct Item<'a> {
    pub id: Option<i64>,
    pub write: &'a Write,
}

/// Applies the items in one transaction. Returns the report of a purge among them.
/// Every statement is idempotent (ids were chosen before the first attempt; a row
/// that is there already is kept), so a retry after an ambiguous failure, such as a
/// COMMIT whose answer was lost, writes nothing twice.
pub(super) async fn apply(
    conn: &mut AnyConnection,
    dialect: Dialect,
    items: &[Item<'_>],
) -> Result<Option<PurgeReport>, StoreError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(StoreError::query("starting a transaction"))?;
    let mut report = None;
    let mut history = Vec::new();
    let mut messages = Vec::new();
    for item in items {
        match item.write {
            Write::History {
                room_id,
                sub_room,
                message,
                timestamp_s,
            } => history.push(HistoryRow {
                hist_id: item.id.ok_or(StoreError::NoInsertId {
                    table: "chatroom_history_seq",
                })?,
                room_id: *room_id,
                sub_room: *sub_room,
                message,
                timestamp_s: *timestamp_s,
            }),
            Write::ConversationMessage {
                id,
                conversation_id,
                user_id,
                message,
                timestamp_ms,
            } => messages.push(MessageRow {
                id,
                conversation_id,
                user_id: *user_id,
                message,
                timestamp_ms: *timestamp_ms,
            }),
            other => {
                if let Some(purged) = other.apply_in(&mut tx, dialect).await? {
                    report = Some(purged);
                }
            }
        }
    }
    for chunk in chunks(&history, |row| row.message.len()) {
        chatroom::insert_history_rows(&mut tx, dialect, chunk).await?;
    }
    for chunk in chunks(&messages, |row| row.message.len() + row.id.len()) {
        osc::insert_message_rows(&mut tx, dialect, chunk).await?;
    }
    tx.commit()
        .await
        .map_err(StoreError::query("committing a transaction"))?;
    Ok(report)
}

/// Splits rows into INSERT-sized runs (a single oversized row stands alone).
fn chunks<T>(rows: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        let row_bytes = size(row) + 32;
        if i > start && (i - start >= ROWS_PER_INSERT || bytes + row_bytes > BYTES_PER_INSERT) {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += row_bytes;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_by_count_and_size() {
        let rows: Vec<usize> = vec![10; 1200];
        let lengths: Vec<usize> = chunks(&rows, |r| *r).iter().map(|c| c.len()).collect();
        assert_eq!(lengths, vec![500, 500, 200]);
        let big = vec![1 << 20, 1 << 20, 1 << 20, 10];
        let lengths: Vec<usize> = chunks(&big, |r| *r).iter().map(|c| c.len()).collect();
        assert_eq!(lengths, vec![1, 1, 2]);
        let huge = vec![8 << 20];
        assert_eq!(chunks(&huge, |r| *r).len(), 1);
        assert!(chunks(&Vec::<usize>::new(), |r| *r).is_empty());
    }
}
