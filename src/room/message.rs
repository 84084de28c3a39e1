//! Chat messages: `message(msg, roomId)` goes to everyone in the room, or as a whisper
//! to sender and addressee only, and into `chatroom_history`.

use socketioxide::extract::SocketRef;

use super::events::OutgoingMessage;
use super::model::{Recipients, SpeakError};
use super::payload::{ChatMessage, Notice, Sender, Stored};
use super::persist::{ensure_room, persist_stored};
use super::{RoomChat, emit};
use crate::escape::escape_html;
use crate::socket::Refused;

/// The longest `chatroom_history.message` ILIAS can store (`varchar(4000)`).
const MAX_STORED_CHARS: usize = 4000;

pub(super) async fn send(
    chat: &RoomChat,
    socket: &SocketRef,
    message: OutgoingMessage,
) -> Result<(), Refused> {
    if !ensure_room(chat, message.key).await {
        return Err(Refused::because(SpeakError::UnknownRoom));
    }
    let whisper_to = message
        .target
        .as_ref()
        .filter(|t| !t.public)
        .map(|t| t.user);
    let delivery = chat
        .rooms()
        .send(socket.id, message.key, whisper_to)
        .map_err(Refused::because)?;
    let generation = chat.client.generation();
    let content = if generation.escapes_html() {
        escape_html(&message.content)
    } else {
        message.content
    };
    let scope = emit::scope(chat, message.key);
    let payload = ChatMessage::new(
        scope,
        Sender::of(&delivery.sender, generation),
        content,
        message.format,
        message.target.map(|t| t.raw),
    );
    // What ILIAS cannot store is not delivered either: everyone sees the same history.
    let (stored, timestamp_s) = payload.stored();
    if stored.chars().count() > MAX_STORED_CHARS {
        let notice = Notice::new(scope, "message_too_long", None);
        emit::to_sockets(chat, &[socket.id], "notice", &notice);
        return Err(Refused::because("message too long to be stored"));
    }
    match delivery.recipients {
        Recipients::Sockets(sockets) => emit::to_sockets(chat, &sockets, "message", &payload),
        Recipients::Room => {
            // A message the browser buffered while reconnecting is handled right after
            // its login, before its `enterRoom`: the sender still sees it.
            let room = message.key.socket_room();
            let outside = !socket.rooms().iter().any(|r| *r == room);
            emit::message_to_room(
                chat,
                message.key,
                &payload,
                delivery.sender.id,
                outside.then_some(socket.id),
            );
        }
    }
    persist_stored(chat, message.key, stored, timestamp_s);
    Ok(())
}
