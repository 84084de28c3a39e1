//! The daily purge of old messages (server.cfg `deletion_mode` 1): chat-room history,
//! on-screen chat messages, conversations left without messages and their activity,
//! once per client at the configured local time.

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use super::schedule::{next_purge, purge_bound};
use super::{ClientList, Clock, wait_until};
use crate::config::DeletionPolicy;
use crate::im::OnScreenChat;
use crate::store::{PurgeReport, Reply, Write};
use std::sync::Arc;

pub(super) async fn purge_loop<Tz: TimeZone + Send + Sync>(
    clients: ClientList,
    policy: DeletionPolicy,
    clock: Arc<dyn Clock>,
    zone: Tz,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = next_purge(clock.now(), policy.time, &zone);
    loop {
        tracing::debug!(at = %next, "next message purge");
        if !wait_until(clock.as_ref(), next, &mut stop).await {
            return;
        }
        let bound = purge_bound(clock.now(), policy.unit, policy.value, &zone);
        for chat in clients() {
            tokio::spawn(async move { purge(&chat, bound).await });
        }
        // From the planned instant, not from "now": a run never repeats the same day.
        next = next_purge(next, policy.time, &zone);
    }
}

/// Purges one client's database of rows older than `bound` and forgets the deleted
/// conversations. Returns the report, or `None` when the database is not connected or
/// refused the purge.
pub async fn purge(chat: &OnScreenChat, bound: DateTime<Utc>) -> Option<PurgeReport> {
    let client = &chat.client;
    if client.store().is_none() {
        tracing::warn!(
            client = client.name(),
            "message purge skipped: the database is not connected"
        );
        return None;
    }
    tracing::info!(
        client = client.name(),
        bound = %bound,
        bound_ms = bound.timestamp_millis(),
        "Start clear process older than the bound"
    );
    let (reply, answer) = Reply::new();
    client.write(Write::Purge {
        bound_s: bound.timestamp(),
        bound_ms: bound.timestamp_millis(),
        reply,
    });
    let Ok(report) = answer.await else {
        tracing::error!(client = client.name(), "message purge failed");
        return None;
    };
    tracing::info!(
        client = client.name(),
        history = report.history,
        osc_messages = report.messages,
        osc_conversations = report.conversations,
        osc_activity = report.activity,
        "Clear messages: {} chat room messages, {} on-screen chat messages, {} conversations, {} activity rows deleted",
        report.history,
        report.messages,
        report.conversations,
        report.activity,
    );
    // A deleted conversation that has a message younger than the bound got it after
    // the purge ran (else it would not have been deleted): its row is written again.
    let purged = chat
        .im()
        .purged(&report.conversation_ids, bound.timestamp_millis());
    for (id, is_group, participants) in purged.restore {
        client.write(Write::ConversationInsert {
            id,
            is_group,
            participants,
        });
    }
    tracing::debug!(
        client = client.name(),
        forgotten = purged.dropped,
        "purged conversations forgotten"
    );
    Some(report)
}
