//! On-screen chat: the socket.io namespace `/<name>-im` (1:1 and group conversations).
//! This part only accepts connections; conversations, participants and their events
//! arrive with the on-screen chat issue.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use crate::client::Client;

/// Registers the on-screen chat namespace of a client.
pub fn attach(io: &SocketIo, client: Arc<Client>) {
    let namespace = client.config.im_namespace();
    io.ns(namespace, async move |socket: SocketRef| {
        tracing::debug!(client = client.name(), sid = %socket.id, "on-screen chat socket connected");
    });
}
