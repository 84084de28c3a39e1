//! One ILIAS client served by this process (one client.cfg): its configuration, its
//! database, and its chat-room state. Socket handlers and backend routes both act on a
//! client through the methods here and in `room`/`im`, so each behaviour is written once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use tokio::task::AbortHandle;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::config::{Auth, ClientConfig, Generation};
use crate::identity::Verifier;
use crate::im::ImState;
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
    /// On-screen chat state (participants, conversations).
    im: Mutex<ImState>,
    /// Turns true once the conversations are loaded from the database.
    im_ready: tokio::sync::watch::Sender<bool>,
    writes: WriteQueue,
    /// Taken by the database connector, which runs it once connected.
    write_worker: Mutex<Option<WriteQueueWorker>>,
    /// Pending "left the chat" timers, one per user whose last socket closed.
    grace_timers: Mutex<HashMap<UserId, AbortHandle>>,
    /// The backend credentials; a reload may change them without touching anything else.
    auth: RwLock<Auth>,
    /// Looks browsers' ILIAS sessions up (verified identity; idle when off).
    identity: Verifier,
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
        let identity = Verifier::new(&config.name);
        Client {
            auth: RwLock::new(config.auth.clone()),
            config,
            io,
            store: OnceLock::new(),
            detected: OnceLock::new(),
            rooms: Mutex::new(RoomState::default()),
            im: Mutex::new(ImState::default()),
            im_ready: tokio::sync::watch::channel(false).0,
            writes,
            write_worker: Mutex::new(Some(worker)),
            grace_timers: Mutex::new(HashMap::new()),
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

    /// On-screen chat state. The lock is never held across an `.await`.
    pub fn im(&self) -> MutexGuard<'_, ImState> {
        lock(&self.im)
    }

    /// Marks the on-screen chat as loaded (conversations preloaded).
    pub fn set_im_ready(&self) {
        self.im_ready.send_replace(true);
    }

    /// Waits until the on-screen chat is loaded, at most `timeout`; returns whether it
    /// is. Events that look conversations up wait for this, so a browser that connects
    /// while the database is still loading does not get an empty list.
    pub async fn im_ready(&self, timeout: std::time::Duration) -> bool {
        let mut ready = self.im_ready.subscribe();
        matches!(
            tokio::time::timeout(timeout, ready.wait_for(|loaded| *loaded)).await,
            Ok(Ok(_))
        )
    }

    /// The connected socket with this id in the on-screen chat namespace.
    pub fn im_socket(&self, sid: Sid) -> Option<SocketRef> {
        self.io
            .of(self.config.im_namespace())
            .and_then(|ns| ns.get_socket(sid))
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

    /// Removes a client, returning it.
    pub fn remove(&self, name: &str) -> Option<Arc<Client>> {
        self.by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(name)
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
