//! On-screen chat history: `history(conversationId, oldestMessageTimestamp,
//! reverseSorting?)` answers one page of older messages, read from `osc_messages`.

use serde_json::Value;
use socketioxide::extract::SocketRef;

use super::payload::{ConversationJson, History, MessageRow};
use super::persist::settled_store;
use super::{OnScreenChat, emit};
use crate::socket::Refused;
use crate::socket::args::truthy;
use crate::store::osc;

pub(super) async fn page(
    chat: &OnScreenChat,
    socket: &SocketRef,
    conversation: String,
    before: Option<i64>,
    reverse: Option<Value>,
) -> Result<(), Refused> {
    let user = chat
        .im()
        .member(socket.id, &conversation)
        .map_err(Refused::because)?;
    let mut rows = match settled_store(chat).await {
        Some(store) => osc::history(&store, &conversation, before)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(client = chat.name(), %error, "cannot read history");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let oldest = rows.iter().map(|m| m.timestamp).min().or(before);
    if reverse.as_ref().is_some_and(truthy) {
        rows.reverse();
    }
    let view = chat
        .im()
        .view(&conversation)
        .ok_or_else(|| Refused::because("the conversation was removed"))?;
    let history = History {
        conversation: ConversationJson::of(&view, 0),
        messages: rows.iter().map(MessageRow::of).collect(),
        reverse_sorting: reverse,
        oldest_message_timestamp: oldest,
    };
    tracing::debug!(client = chat.name(), %conversation, ?before, "history requested");
    let sockets = chat.im().sockets_of(user);
    emit::to_sockets(chat, &sockets, "history", &history);
    Ok(())
}
