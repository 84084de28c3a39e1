//! `message(conversationId, userId, text)`: delivered to the participants who accept
//! messages (the model decides who), stored in `osc_messages`.

use socketioxide::extract::SocketRef;

use super::model::StoredMessage;
use super::payload::{ConversationJson, ImMessage};
use super::{OnScreenChat, emit};
use crate::clock::now_ms;
use crate::escape::escape_html;
use crate::ids::{UserId, new_uuid};
use crate::socket::Refused;
use crate::store::Write;

pub(super) fn send(
    chat: &OnScreenChat,
    socket: &SocketRef,
    conversation: String,
    user: UserId,
    text: String,
) -> Result<(), Refused> {
    chat.im()
        .acting_as(socket.id, user)
        .map_err(Refused::because)?;
    let generation = chat.client.generation();
    let message = StoredMessage {
        id: new_uuid(),
        conversation_id: conversation.clone(),
        user_id: user,
        message: if generation.escapes_html() {
            escape_html(&text)
        } else {
            text
        },
        timestamp: now_ms(),
    };
    let delivery = chat.im().send(user, &message).map_err(Refused::because)?;
    let mut live = ImMessage::of(&message, generation);
    if !delivery.sender_accepts {
        tracing::debug!(client = chat.name(), user, %conversation, "message not delivered: the sender does not accept messages");
        emit::to_sockets(
            chat,
            &delivery.sender_sockets,
            "senderSuppressesMessages",
            &live,
        );
        return Ok(());
    }
    if delivery.persist {
        chat.client.write(Write::ConversationMessage {
            id: message.id.clone(),
            conversation_id: message.conversation_id.clone(),
            user_id: message.user_id,
            message: message.message.clone(),
            timestamp_ms: message.timestamp,
        });
    }
    let json = ConversationJson::of(&delivery.view, 0);
    emit::to_sockets(chat, &delivery.recipients, "conversation", &json);
    emit::to_sockets(chat, &delivery.recipients, "message", &live);
    if !delivery.ignored.is_empty() {
        live.ignored_participants = Some(delivery.ignored);
        emit::to_sockets(
            chat,
            &delivery.sender_sockets,
            "participantsSuppressedMessages",
            &live,
        );
    }
    tracing::debug!(client = chat.name(), user, %conversation, "message sent");
    Ok(())
}
