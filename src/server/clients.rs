//! The ILIAS clients this process serves: for each, the shared [`Client`] and the two
//! features built on it, registered by instance name. The backend finds a client's
//! credentials and handlers here ([`BackendClients`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use http::Extensions;
use socketioxide::SocketIo;

use crate::client::Client;
use crate::config::{Auth, ClientConfig};
use crate::daemon::state::StateDir;
use crate::http::backend::BackendClients;
use crate::im::{self, OnScreenChat};
use crate::room::{self, RoomChat};
use crate::store::Store;

/// One ILIAS client with its chat rooms and its on-screen chat.
#[derive(Debug, Clone)]
pub struct ServedClient {
    pub client: Arc<Client>,
    pub rooms: Arc<RoomChat>,
    pub im: Arc<OnScreenChat>,
}

impl ServedClient {
    /// Builds a client's state (its write journal in the state directory) and
    /// registers its two namespaces.
    pub fn attach(config: ClientConfig, io: &SocketIo, state: &StateDir) -> ServedClient {
        let journal = state
            .client_journal(&config.name)
            .inspect_err(|error| {
                tracing::error!(client = config.name, state_dir = %state.root().display(), %error, "cannot create the write journal folder")
            })
            .ok();
        let client = Arc::new(Client::new(config, io.clone(), journal));
        let served = ServedClient {
            rooms: Arc::new(RoomChat::new(client.clone())),
            im: Arc::new(OnScreenChat::new(client.clone())),
            client,
        };
        crate::socket::attach(io, served.rooms.clone());
        crate::socket::attach(io, served.im.clone());
        room::forget_departures(&served.rooms);
        served
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// Connects the database (retrying until it works), detects the ILIAS generation
    /// and loads rooms and conversations. Until then the client serves Heartbeat and
    /// sockets.
    pub async fn connect_database(&self) {
        let client = &self.client;
        let store = Store::connect_with_retry(
            client.name(),
            &client.config.database,
            client.database_health(),
        )
        .await
        .with_column_charsets(client.name())
        .await;
        decide_generation(client, &store).await;
        if let Some(worker) = client.take_write_worker() {
            tokio::spawn(worker.run(store.clone()));
        }
        client.set_store(store);
        match room::start(&self.rooms).await {
            Ok(count) => tracing::info!(client = client.name(), rooms = count, "chat rooms loaded"),
            Err(error) => tracing::error!(client = client.name(), %error, "cannot load chat rooms"),
        }
        match im::start(&self.im).await {
            Ok(count) => {
                tracing::info!(
                    client = client.name(),
                    conversations = count,
                    "conversations loaded"
                )
            }
            Err(error) => {
                tracing::error!(client = client.name(), %error, "cannot load conversations")
            }
        }
        self.im.set_ready();
    }

    /// Asks the database whether it answers and records the result. Returns whether
    /// that changed (for `STATUS=`).
    pub async fn probe_database(&self) -> bool {
        let Some(store) = self.client.store() else {
            return false;
        };
        let health = self.client.database_health();
        match store.ping().await {
            Ok(()) => health.reachable(),
            Err(error) => health.unreachable(&error),
        }
    }
}

/// Every ILIAS client of this process, by instance name.
#[derive(Debug, Default)]
pub struct ServedClients {
    by_name: RwLock<BTreeMap<String, ServedClient>>,
}

impl ServedClients {
    /// The client with this instance name.
    pub fn get(&self, name: &str) -> Option<ServedClient> {
        self.read().get(name).cloned()
    }

    /// All clients, ordered by name.
    pub fn all(&self) -> Vec<ServedClient> {
        self.read().values().cloned().collect()
    }

    /// Removes a client, returning it.
    pub fn remove(&self, name: &str) -> Option<ServedClient> {
        self.by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(name)
    }

    /// Adds (or replaces) a client.
    pub fn insert(&self, client: ServedClient) {
        self.by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(client.name().to_string(), client);
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, ServedClient>> {
        self.by_name
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BackendClients for ServedClients {
    fn knows(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    fn lookup(&self, name: &str) -> Option<(Auth, Extensions)> {
        let served = self.get(name)?;
        let mut extensions = Extensions::new();
        extensions.insert(served.rooms.clone());
        extensions.insert(served.im.clone());
        extensions.insert(served.client.clone());
        Some((served.client.auth(), extensions))
    }
}

/// Settles a client's ILIAS release line and logs which one it got and why: the
/// `ilias_version` pinned in client.cfg wins (with a warning when the database says
/// otherwise), else what the database tells.
async fn decide_generation(client: &Client, store: &Store) {
    let detected = store.detect_generation().await;
    let pinned_how = "ilias_version in client.cfg";
    match (client.config.ilias_version, detected) {
        (Some(pinned), Ok(detected)) => {
            if detected.generation != pinned {
                tracing::warn!(
                    client = client.name(),
                    pinned = %pinned,
                    detected = %detected.generation,
                    how = %detected.how,
                    "ilias_version in client.cfg differs from the database; using client.cfg"
                );
            }
            tracing::info!(client = client.name(), generation = %pinned, how = pinned_how, "ILIAS {pinned} profile");
        }
        (Some(pinned), Err(_)) => {
            tracing::info!(client = client.name(), generation = %pinned, how = pinned_how, "ILIAS {pinned} profile");
        }
        (None, Ok(detected)) => {
            let generation = detected.generation;
            tracing::info!(client = client.name(), %generation, how = %detected.how, "ILIAS {generation} profile, detected from the database");
            client.set_detected_generation(generation);
        }
        (None, Err(error)) => {
            tracing::warn!(client = client.name(), %error, "cannot detect the ILIAS generation; assuming 9")
        }
    }
}
