//! The way out of the on-screen chat namespace: to given sockets (a user's tabs). A
//! failed emit concerns one browser only: it is logged, never passed on.

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
    for sid in sids {
        if let Some(socket) = chat.socket(*sid)
            && let Err(error) = socket.emit(event, payload)
        {
            tracing::debug!(client = chat.name(), event, %error, "emit failed");
        }
    }
}
