//! One ILIAS client served by this process (one client.cfg): what the chat rooms
//! (`room`) and the on-screen chat (`im`) share — its configuration, its backend
//! credentials, its database, its ordered write queue and the socket.io server its
//! namespaces live in. The state of each feature is owned by that feature (`RoomChat`
//! in `room`, `OnScreenChat` in `im`), which holds this client: the features depend on
//! this module, never the other way round.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::config::{Auth, ClientConfig, Generation};
use crate::identity::Verifier;
use crate::metrics::{self, Feature};
use crate::store::{DatabaseHealth, QueueStatus, Store, Write, WriteQueue, WriteQueueWorker};

/// An ILIAS client served by this process.
#[derive(Debug)]
pub struct Client {
    pub config: ClientConfig,
    io: SocketIo,
    store: OnceLock<Store>,
    detected: OnceLock<Generation>,
    writes: WriteQueue,
    /// Taken by the database connector, which runs it once connected.
    write_worker: Mutex<Option<WriteQueueWorker>>,
    /// The backend credentials; a reload may change them without touching anything else.
    auth: RwLock<Auth>,
    /// Looks browsers' ILIAS sessions up (verified identity; idle when off).
    identity: Verifier,
    /// Whether the database answered at the last contact.
    database_health: DatabaseHealth,
}

/// Locks a mutex of per-client state. A panic while holding one of these locks cannot
/// leave the maps in a state that matters more than losing the whole client, so
/// poisoning is ignored.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Client {
    /// A client whose database is not connected yet. Writes that wait for the
    /// database go to the journal in `journal` (none: they wait in memory only).
    pub fn new(config: ClientConfig, io: SocketIo, journal: Option<PathBuf>) -> Client {
        let (writes, worker) = WriteQueue::new(&config.name, journal);
        let identity = Verifier::new(&config.name);
        Client {
            database_health: DatabaseHealth::new(&config.name),
            auth: RwLock::new(config.auth.clone()),
            config,
            io,
            store: OnceLock::new(),
            detected: OnceLock::new(),
            writes,
            write_worker: Mutex::new(Some(worker)),
            identity,
        }
    }

    /// The session verifier (verified identity).
    pub fn identity(&self) -> &Verifier {
        &self.identity
    }

    /// The backend credentials in force.
    pub fn auth(&self) -> Auth {
        self.auth
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Replaces the backend credentials (reload with a changed secret).
    pub fn set_auth(&self, auth: Auth) {
        *self
            .auth
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = auth;
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

    /// Whether the database answered at the last contact (health route, metrics).
    pub fn database_health(&self) -> &DatabaseHealth {
        &self.database_health
    }

    /// The generation found in the database, if it was detected.
    pub fn detected_generation(&self) -> Option<Generation> {
        self.detected.get().copied()
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

    /// Queues a database write; delivery never waits for it.
    pub fn write(&self, write: Write) {
        self.writes.push(write);
    }

    /// The write queue (to flush it on shutdown).
    pub fn writes(&self) -> &WriteQueue {
        &self.writes
    }

    /// Queue depth, oldest unwritten write, journal size and database state.
    pub fn write_status(&self) -> QueueStatus {
        self.writes.status()
    }

    /// The queue's worker, for the database connector to run (once).
    pub fn take_write_worker(&self) -> Option<WriteQueueWorker> {
        lock(&self.write_worker).take()
    }

    /// The socket.io server (to broadcast into this client's namespaces).
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// The connected socket with this id in one of this client's namespaces.
    pub fn socket(&self, namespace: &str, sid: Sid) -> Option<SocketRef> {
        self.io.of(namespace).and_then(|ns| ns.get_socket(sid))
    }

    /// Sends one event to the given sockets of a namespace (a user's tabs). A failed
    /// emit concerns one browser only: it is logged, never passed on.
    pub fn emit_to<T: Serialize + ?Sized>(
        &self,
        namespace: &str,
        sids: &[Sid],
        event: &str,
        payload: &T,
    ) {
        for sid in sids {
            let Some(socket) = self.socket(namespace, *sid) else {
                continue;
            };
            match socket.emit(event, payload) {
                Ok(()) => metrics::delivered(self.name(), self.feature_of(namespace), event, 1),
                Err(error) => {
                    tracing::debug!(client = self.name(), %namespace, event, %sid, %error, "emit failed")
                }
            }
        }
    }

    /// The feature a namespace of this client serves (for the metrics).
    pub fn feature_of(&self, namespace: &str) -> Feature {
        if namespace == self.config.im_namespace() {
            Feature::Im
        } else {
            Feature::Room
        }
    }
}
