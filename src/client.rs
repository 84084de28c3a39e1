//! One ILIAS client served by this process (one client.cfg): its configuration, its
//! database, and its chat-room state. Socket handlers and backend routes both act on a
//! client through the methods here and in `room`/`im`, so each behaviour is written once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::config::{ClientConfig, Generation};
use crate::room::RoomState;
use crate::store::Store;

/// An ILIAS client served by this process.
#[derive(Debug)]
pub struct Client {
    pub config: ClientConfig,
    io: SocketIo,
    store: OnceLock<Store>,
    detected: OnceLock<Generation>,
    rooms: Mutex<RoomState>,
}

impl Client {
    /// A client whose database is not connected yet.
    pub fn new(config: ClientConfig, io: SocketIo) -> Client {
        Client {
            config,
            io,
            store: OnceLock::new(),
            detected: OnceLock::new(),
            rooms: Mutex::new(RoomState::default()),
        }
    }

    /// The instance name (`name` in client.cfg).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The database, once connected.
    pub fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    /// Records the connected database (the first one wins).
    pub fn set_store(&self, store: Store) {
        if self.store.set(store).is_err() {
            tracing::debug!(client = self.name(), "database was already connected");
        }
    }

    /// Records the generation found in the database.
    pub fn set_detected_generation(&self, generation: Generation) {
        let _ = self.detected.set(generation);
    }

    /// The ILIAS release line of this client: pinned in client.cfg, else detected from
    /// the database; ILIAS 9 is assumed while the database is still unreachable.
    pub fn generation(&self) -> Generation {
        self.config
            .ilias_version
            .or_else(|| self.detected.get().copied())
            .unwrap_or(Generation::Ilias9)
    }

    /// Chat-room state. The lock is never held across an `.await`.
    pub fn rooms(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the whole client, so poisoning is ignored.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connected socket with this id in the chat-room namespace.
    pub fn room_socket(&self, sid: Sid) -> Option<SocketRef> {
        self.io
            .of(self.config.room_namespace())
            .and_then(|ns| ns.get_socket(sid))
    }

    /// The socket.io server (to broadcast into this client's namespaces).
    pub fn io(&self) -> &SocketIo {
        &self.io
    }
}

/// Every ILIAS client of this process, by instance name.
#[derive(Debug, Default)]
pub struct Clients {
    by_name: RwLock<BTreeMap<String, Arc<Client>>>,
}

impl Clients {
    /// The client with this instance name.
    pub fn get(&self, name: &str) -> Option<Arc<Client>> {
        self.read().get(name).cloned()
    }

    /// All clients, ordered by name.
    pub fn all(&self) -> Vec<Arc<Client>> {
        self.read().values().cloned().collect()
    }

    /// Adds (or replaces) a client.
    pub fn insert(&self, client: Arc<Client>) {
        self.by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(client.name().to_string(), client);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Client>>> {
        self.by_name
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
