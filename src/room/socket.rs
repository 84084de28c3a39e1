//! The chat-room namespace on a socket: each event is parsed into a [`RoomEvent`] and
//! handed to the handler of its feature; the disconnect starts the grace period.

use std::sync::Arc;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use super::events::{NAMES, RoomEvent};
use super::{RoomChat, enter, grace, message, typing};
use crate::socket::args::EventArgs;
use crate::socket::{Namespace, Refused};

/// Registers the chat-room namespace of a client.
pub fn attach(io: &SocketIo, chat: Arc<RoomChat>) {
    crate::socket::attach(io, chat);
}

impl Namespace for RoomChat {
    const EVENTS: &'static [&'static str] = NAMES;

    fn path(&self) -> String {
        self.client.config.room_namespace()
    }

    fn client_name(&self) -> &str {
        self.name()
    }

    async fn handle(
        chat: &Arc<Self>,
        socket: &SocketRef,
        name: &'static str,
        args: &EventArgs,
    ) -> Result<(), Refused> {
        match RoomEvent::parse(name, args, chat.client.generation())? {
            RoomEvent::Login(login) => enter::login(chat, socket, login),
            RoomEvent::EnterRoom(key) => enter::enter_room(chat, socket, key).await,
            RoomEvent::Message(outgoing) => message::send(chat, socket, outgoing).await,
            RoomEvent::Typing { key, typing } => typing::typing(chat, socket, key, typing),
        }
    }

    fn disconnected(chat: &Arc<Self>, socket: &SocketRef) {
        grace::socket_closed(chat, socket);
    }
}
