//! A participant's activity in a conversation: `activity` (read up to a timestamp) and
//! `closeConversation`, both kept in `osc_activity`.

use socketioxide::extract::SocketRef;

use super::OnScreenChat;
use crate::clock::now_ms;
use crate::ids::UserId;
use crate::socket::Refused;
use crate::store::Write;

/// The socket's user, who must be the named user and a participant.
fn acting_member(
    chat: &OnScreenChat,
    socket: &SocketRef,
    user: UserId,
    conversation: &str,
) -> Result<(), Refused> {
    let im = chat.im();
    im.acting_as(socket.id, user).map_err(Refused::because)?;
    im.member(socket.id, conversation)
        .map(|_| ())
        .map_err(Refused::because)
}

pub(super) fn track(
    chat: &OnScreenChat,
    socket: &SocketRef,
    conversation: String,
    user: UserId,
    timestamp_ms: i64,
) -> Result<(), Refused> {
    acting_member(chat, socket, user, &conversation)?;
    tracing::debug!(client = chat.name(), user, %conversation, timestamp_ms, "activity");
    chat.client.write(Write::Activity {
        conversation_id: conversation,
        user_id: user,
        timestamp_ms,
    });
    Ok(())
}

pub(super) fn close(
    chat: &OnScreenChat,
    socket: &SocketRef,
    conversation: String,
    user: UserId,
) -> Result<(), Refused> {
    acting_member(chat, socket, user, &conversation)?;
    tracing::debug!(client = chat.name(), user, %conversation, "conversation closed");
    chat.client.write(Write::CloseConversation {
        conversation_id: conversation,
        user_id: user,
        now_ms: now_ms(),
    });
    Ok(())
}
