//! The on-screen chat namespace on a socket: each event is parsed into an [`ImEvent`]
//! and handed to the handler of its feature, in arrival order (two messages sent back
//! to back are stored and delivered in that order); the disconnect forgets the socket.
//!
//! Unlike the original, a socket may only act for the user it logged in as: events
//! whose `userId` argument names someone else are refused. `login` itself is trusted
//! unless the client verifies ILIAS sessions (`verify_session`, see `crate::identity`):
//! then only the user of the handshake's session cookie may log in.

use std::sync::Arc;

use socketioxide::extract::SocketRef;

use super::events::{ImEvent, NAMES};
use super::{OnScreenChat, activity, conversation, history, login, message, typing};
use crate::client::Client;
use crate::metrics::Feature;
use crate::socket::args::EventArgs;
use crate::socket::{Namespace, Refused};

impl Namespace for OnScreenChat {
    const EVENTS: &'static [&'static str] = NAMES;
    const FEATURE: Feature = Feature::Im;
    type Event = ImEvent;

    fn path(&self) -> String {
        self.client.config.im_namespace()
    }

    fn client(&self) -> &Arc<Client> {
        &self.client
    }

    fn parse(&self, name: &str, args: &EventArgs) -> Result<ImEvent, Refused> {
        ImEvent::parse(name, args)
    }

    async fn handle(chat: &Arc<Self>, socket: &SocketRef, event: ImEvent) -> Result<(), Refused> {
        match event {
            ImEvent::Login { user, name } => login::login(chat, socket, user, name).await,
            ImEvent::Conversations => login::conversations(chat, socket).await,
            ImEvent::Conversation(requested) => conversation::open(chat, socket, &requested).await,
            ImEvent::AddUser(change) => conversation::add_user(chat, socket, change).await,
            ImEvent::RemoveUser(change) => conversation::remove_user(chat, socket, change),
            ImEvent::Message {
                conversation,
                user,
                text,
            } => message::send(chat, socket, conversation, user, text),
            ImEvent::History {
                conversation,
                before,
                reverse,
            } => history::page(chat, socket, conversation, before, reverse).await,
            ImEvent::Activity {
                conversation,
                user,
                timestamp_ms,
            } => activity::track(chat, socket, conversation, user, timestamp_ms),
            ImEvent::Close { conversation, user } => {
                activity::close(chat, socket, conversation, user)
            }
            ImEvent::Typing {
                conversation,
                user,
                event,
            } => typing::typing(chat, socket, &conversation, user, event),
        }
    }

    fn disconnected(chat: &Arc<Self>, socket: &SocketRef) {
        let user = chat.im().socket_closed(socket.id);
        tracing::debug!(client = chat.name(), sid = %socket.id, ?user, "on-screen chat socket disconnected");
    }
}
