//! Typing indicators: `userStartedTyping` / `userStoppedTyping(conversationId,
//! userId)` go to the other participants; nothing is stored.

use socketioxide::extract::SocketRef;

use super::payload::{ConversationJson, Typing};
use super::{OnScreenChat, emit};
use crate::ids::UserId;
use crate::socket::Refused;

pub(super) fn typing(
    chat: &OnScreenChat,
    socket: &SocketRef,
    conversation: &str,
    user: UserId,
    event: &'static str,
) -> Result<(), Refused> {
    let (view, participant, recipients) = {
        let im = chat.im();
        im.acting_as(socket.id, user)
            .and_then(|_| im.typing(user, conversation))
            .map_err(Refused::because)?
    };
    let payload = Typing {
        conversation: ConversationJson::of(&view, 0),
        participant,
    };
    emit::to_sockets(chat, &recipients, event, &payload);
    Ok(())
}
