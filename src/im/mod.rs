//! On-screen chat: the socket.io namespace `/<name>-im` (1:1 and group conversations)
//! and PHP's `UserConfigChange` route. Every inbound thing takes the same path as in the
//! chat rooms: a socket event is parsed into an [`events::ImEvent`]; the handler (one
//! file per feature: [`login`], [`conversation`], [`message`], [`history`],
//! [`activity`], [`typing`], [`settings`]) asks the pure model ([`model::ImState`])
//! what happens, then emits ([`emit`]) and queues what ILIAS keeps.
//!
//! Reads after writes: writes are queued (delivery never waits for the database), so a
//! read could miss a write queued just before it. Every read of `osc_*` tables (latest
//! message, unread count, closed state, history) therefore first flushes the client's
//! write queue (bounded wait, [`persist::settled_store`]), which makes it see everything
//! this server wrote before; the latest message of a conversation is also kept in
//! memory as it is sent.

mod activity;
pub mod backend;
mod conversation;
mod emit;
pub mod events;
mod history;
mod login;
mod message;
pub mod model;
pub mod payload;
mod persist;
pub mod settings;
mod socket;
mod typing;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::sync::watch;

use crate::client::{Client, lock};

pub use model::ImState;
pub use persist::start;
pub use settings::refresh_settings;

/// The on-screen chat of one ILIAS client: the client it belongs to and the state only
/// the on-screen chat has.
#[derive(Debug)]
pub struct OnScreenChat {
    /// What the on-screen chat shares with the rooms (config, database, write queue).
    pub client: Arc<Client>,
    state: Mutex<ImState>,
    /// Turns true once the conversations are loaded from the database.
    ready: watch::Sender<bool>,
}

impl OnScreenChat {
    /// The on-screen chat of a client, nothing loaded yet.
    pub fn new(client: Arc<Client>) -> OnScreenChat {
        OnScreenChat {
            client,
            state: Mutex::new(ImState::default()),
            ready: watch::channel(false).0,
        }
    }

    /// The instance name of the client.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// On-screen chat state. The lock is never held across an `.await`.
    pub fn im(&self) -> MutexGuard<'_, ImState> {
        lock(&self.state)
    }

    /// The connected socket with this id in the on-screen chat namespace.
    pub fn socket(&self, sid: Sid) -> Option<SocketRef> {
        self.client.socket(&self.client.config.im_namespace(), sid)
    }

    /// Marks the on-screen chat as loaded (also after a failed load, so nothing waits
    /// for it any longer).
    pub fn set_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Waits until the on-screen chat is loaded, at most `timeout`; returns whether it
    /// is. Events that look conversations up wait for this, so a browser that connects
    /// while the database is still loading does not get an empty list.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ready.subscribe();
        matches!(
            tokio::time::timeout(timeout, ready.wait_for(|loaded| *loaded)).await,
            Ok(Ok(_))
        )
    }
}
