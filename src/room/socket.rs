//! The chat-room namespace on a socket: each socket's events are parsed into
//! [`RoomEvent`]s and handled one at a time, in the order the browser sent them, ending
//! with the disconnect. A refused event is logged here, once, and changes nothing.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use super::events::{NAMES, RoomEvent};
use super::{RoomChat, enter, grace, message, typing};
use crate::socket::queue::{Inbound, attach_namespace};
use crate::socket::{Refused, log_refusal};

/// Registers the chat-room namespace of a client.
pub fn attach(io: &SocketIo, chat: Arc<RoomChat>) {
    let namespace = chat.client.config.room_namespace();
    attach_namespace(io, namespace, NAMES, move |socket, inbound| {
        let chat = chat.clone();
        async move {
            match inbound {
                Inbound::Event { name, args } => {
                    if let Err(refused) = dispatch(&chat, &socket, name, &args).await {
                        log_refusal(chat.name(), socket.id, name, &refused);
                    }
                }
                Inbound::Disconnect => grace::socket_closed(&chat, &socket),
            }
        }
    });
}

async fn dispatch(
    chat: &Arc<RoomChat>,
    socket: &SocketRef,
    name: &str,
    args: &crate::socket::args::EventArgs,
) -> Result<(), Refused> {
    match RoomEvent::parse(name, args, chat.client.generation())? {
        RoomEvent::Login(login) => enter::login(chat, socket, login),
        RoomEvent::EnterRoom(key) => enter::enter_room(chat, socket, key).await,
        RoomEvent::Message(outgoing) => message::send(chat, socket, outgoing).await,
        RoomEvent::Typing { key, typing } => typing::typing(chat, socket, key, typing),
    }
}
