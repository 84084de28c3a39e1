//! One ILIAS client served by this process (one client.cfg): its configuration, its
//! database, and its chat-room state. Socket handlers and backend routes both act on a
//! client through the methods here and in `room`/`im`, so each behaviour is written once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use tokio::task::AbortHandle;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::config::{ClientConfig, Generation};
use crate::room::RoomState;
use crate::room::model::UserId;
use crate::store::{Store, Write, WriteQueue, WriteQueueWorker};

/// An ILIAS client served by this process.
#[derive(Debug)]
pub struct Client {
    pub config: ClientConfig,
    io: SocketIo,
    store: OnceLock<Store>,
    detected: OnceLock<Generation>,
    rooms: Mutex<RoomState>,
    writes: WriteQueue,
    /// Taken by the database connector, which runs it once connected.
    write_worker: Mutex<Option<WriteQueueWorker>>,
    /// Pending "left the chat" timers, one per user whose last socket closed.
    grace_timers: Mutex<HashMap<UserId, AbortHandle>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the maps in a state that
    // matters more than losing the whole client, so poisoning is ignored.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Client {
    /// A client whose database is not connected yet.
    pub fn new(config: ClientConfig, io: SocketIo) -> Client {
        let (writes, worker) = WriteQueue::new(&config.name);
        Client {
            config,
            io,
            store: OnceLock::new(),
            detected: OnceLock::new(),
            rooms: Mutex::new(RoomState::default()),
            writes,
            write_worker: Mutex::new(Some(worker)),
            grace_timers: Mutex::new(HashMap::new()),
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
        lock(&self.rooms)
    }

    /// Queues a database write; delivery never waits for it.
    pub fn write(&self, write: Write) {
        self.writes.push(write);
    }

    /// The write queue (to flush it on shutdown).
    pub fn writes(&self) -> &WriteQueue {
        &self.writes
    }

    /// The queue's worker, for the database connector to run (once).
    pub fn take_write_worker(&self) -> Option<WriteQueueWorker> {
        lock(&self.write_worker).take()
    }

    /// Arms (or re-arms) the grace timer of a user; the previous one is cancelled.
    pub fn arm_grace_timer(&self, user: UserId, timer: AbortHandle) {
        if let Some(previous) = lock(&self.grace_timers).insert(user, timer) {
            previous.abort();
        }
    }

    /// Cancels the grace timer of a user, if any.
    pub fn cancel_grace_timer(&self, user: UserId) {
        if let Some(timer) = lock(&self.grace_timers).remove(&user) {
            timer.abort();
        }
    }

    /// Forgets a fired timer (without aborting the task that is running it).
    pub fn grace_timer_fired(&self, user: UserId) {
        lock(&self.grace_timers).remove(&user);
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
