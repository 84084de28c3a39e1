//! One feature served on a socket.io namespace (chat rooms on `/<name>`, on-screen
//! chat on `/<name>-im`). Both are attached the same way: each socket's events go
//! through the in-order queue to the feature's handler, a refusal is logged here,
//! once, and the disconnect comes last.

use std::future::Future;
use std::sync::Arc;

use socketioxide::SocketIo;

use crate::client::Client;
use socketioxide::extract::SocketRef;

use super::args::EventArgs;
use super::handshake;
use super::queue::{Handled, Inbound, attach_namespace};
use super::{Refused, log_refusal};
use crate::metrics::{self, Feature, RefusalReason};

/// A feature that serves one namespace of a client.
pub trait Namespace: Send + Sync + 'static {
    /// The event names it listens for.
    const EVENTS: &'static [&'static str];

    /// Which feature this is, for the metrics.
    const FEATURE: Feature;

    /// Its inbound events, typed.
    type Event: Send;

    /// The namespace path.
    fn path(&self) -> String;

    /// The client whose namespace this is.
    fn client(&self) -> &Arc<Client>;

    /// The instance name of the client, for logs.
    fn client_name(&self) -> &str {
        self.client().name()
    }

    /// Parses an event from its name and arguments.
    fn parse(&self, name: &str, args: &EventArgs) -> Result<Self::Event, Refused>;

    /// Handles one parsed event of a socket (handler, model, emit/store).
    fn handle<'a>(
        chat: &'a Arc<Self>,
        socket: &'a SocketRef,
        event: Self::Event,
    ) -> impl Future<Output = Result<(), Refused>> + Send + 'a;

    /// The socket closed; nothing follows.
    fn disconnected(chat: &Arc<Self>, socket: &SocketRef);
}

/// Registers the namespace of a feature: each socket's events are handled one at a
/// time, in the order the browser sent them, ending with the disconnect.
pub fn attach<N: Namespace>(io: &SocketIo, chat: Arc<N>) {
    let path = chat.path();
    let gate = handshake::gate(chat.client().clone());
    attach_namespace(io, path, N::EVENTS, gate, move |socket, inbound| {
        let chat = chat.clone();
        async move {
            match inbound {
                Inbound::Event { name, args } => {
                    metrics::event_received(chat.client_name(), N::FEATURE, name);
                    let handled = match chat.parse(name, &args) {
                        Ok(event) => N::handle(&chat, &socket, event).await,
                        Err(refused) => Err(refused),
                    };
                    match handled {
                        Ok(()) => Handled::Accepted,
                        Err(refused) => {
                            let reason = match refused {
                                Refused::Malformed(_) => RefusalReason::Malformed,
                                Refused::NotAllowed(_) => RefusalReason::NotAllowed,
                            };
                            metrics::event_refused(chat.client_name(), N::FEATURE, name, reason);
                            log_refusal(chat.client_name(), socket.id, name, &refused);
                            Handled::Refused
                        }
                    }
                }
                Inbound::Disconnect => {
                    N::disconnected(&chat, &socket);
                    Handled::Accepted
                }
            }
        }
    });
}
