//! Typing indicators: `userStartedTyping(roomId)` / `userStoppedTyping(roomId)` are
//! told to every other registered user of the room; nothing is stored.

use socketioxide::extract::SocketRef;

use super::events::TypingKind;
use super::model::RoomKey;
use super::payload::{ActionHead, SubscriberRef, Typing};
use super::{RoomChat, emit};
use crate::socket::Refused;

pub(super) fn typing(
    chat: &RoomChat,
    socket: &SocketRef,
    key: RoomKey,
    typing: TypingKind,
) -> Result<(), Refused> {
    let (sender, recipients) = {
        let rooms = chat.rooms();
        let sender = SubscriberRef::of(rooms.speaker(socket.id, key).map_err(Refused::because)?);
        let recipients = rooms.other_registered_sockets(key, sender.id);
        (sender, recipients)
    };
    let payload = Typing {
        head: ActionHead::new(emit::scope(chat, key), typing.kind()),
        // The original sends the subscriber as a JSON string, and browsers parse it.
        subscriber: serde_json::to_string(&sender).unwrap_or_default(),
    };
    emit::to_sockets(chat, &recipients, typing.event(), &payload);
    Ok(())
}
