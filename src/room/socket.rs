//! The chat-room namespace on a socket: each event is parsed into a [`RoomEvent`] and
//! handed to the handler of its feature; the disconnect starts the grace period.

use std::sync::Arc;

use socketioxide::extract::SocketRef;

use super::events::{NAMES, RoomEvent};
use super::{RoomChat, enter, grace, message, typing};
use crate::client::Client;
use crate::metrics::Feature;
use crate::socket::args::EventArgs;
use crate::socket::{Namespace, Refused};

impl Namespace for RoomChat {
    const EVENTS: &'static [&'static str] = NAMES;
    const FEATURE: Feature = Feature::Room;
    type Event = RoomEvent;

    fn path(&self) -> String {
        self.client.config.room_namespace()
    }

    fn client(&self) -> &Arc<Client> {
        &self.client
    }

    fn parse(&self, name: &str, args: &EventArgs) -> Result<RoomEvent, Refused> {
        RoomEvent::parse(name, args, self.client.generation())
    }

    async fn handle(chat: &Arc<Self>, socket: &SocketRef, event: RoomEvent) -> Result<(), Refused> {
        match event {
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
