//! The way out of the on-screen chat namespace: to given sockets (a user's tabs).

use serde::Serialize;
use socketioxide::socket::Sid;

use super::OnScreenChat;

/// Sends one event to the given sockets.
pub(super) fn to_sockets<T: Serialize + ?Sized>(
    chat: &OnScreenChat,
    sids: &[Sid],
    event: &str,
    payload: &T,
) {
    let namespace = chat.client.config.im_namespace();
    chat.client.emit_to(&namespace, sids, event, payload);
}
