//! Assembles a running chat server from validated configuration: one socket.io
//! server with two namespaces per ILIAS client, the backend API, a database connector
//! per client, and the HTTP(S) accept loop. While serving it keeps the service manager
//! informed (readiness, status, watchdog), reloads on SIGHUP and stops gracefully.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use socketioxide::SocketIo;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;

use crate::client::{Client, Clients};
use crate::config::{self, ClientConfig, Protocol, ServerConfig};
use crate::daemon::logging::Logging;
use crate::daemon::notify;
use crate::daemon::sources::ConfigSources;
use crate::http::{self, Dispatch, SharedTls, SocketIoPaths, dispatch::INTERNAL_SOCKET_IO_PATH};
use crate::store::Store;
use crate::{im, room};

/// How long open connections get to finish after a stop was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long browsers get to receive `shutdown` (and close by themselves, as ILIAS
/// pages do) before the remaining connections are cut. Without it a long-poll or a
/// websocket frame still in flight can be lost.
const SHUTDOWN_NOTICE_WAIT: Duration = Duration::from_secs(1);

/// Outgoing packets a socket may have queued (a slow browser in a busy room).
const SOCKET_BUFFER_PACKETS: usize = 8192;

/// How often `STATUS=` is refreshed for `systemctl status`.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Extra HTTP routes (the demo page), built once the clients exist.
pub type ExtraRoutes = Box<dyn FnOnce(Arc<Clients>) -> Router + Send>;

/// What SIGHUP re-reads and re-applies.
pub struct Reloader {
    pub sources: ConfigSources,
    pub logging: Option<Logging>,
}

/// Everything [`Server::run`] serves with.
pub struct Running {
    pub listeners: Vec<std::net::TcpListener>,
    pub tls: Option<SharedTls>,
    /// Turns true when the server should stop.
    pub stop: watch::Receiver<bool>,
    /// One message per SIGHUP, and what to reload then.
    pub reloads: Option<(mpsc::UnboundedReceiver<()>, Reloader)>,
}

/// A configured server, ready to serve.
pub struct Server {
    config: ServerConfig,
    clients: Arc<Clients>,
    io: SocketIo,
    dispatch: Dispatch,
    paths: SocketIoPaths,
    /// The database connector of each client, to stop it when the client goes away.
    connectors: Mutex<HashMap<String, AbortHandle>>,
    /// Poked when something shown in `STATUS=` changed.
    status_changed: Arc<Notify>,
}

impl Server {
    /// Builds namespaces, routes and per-client state. Must run inside the runtime.
    pub fn new(
        server: &ServerConfig,
        clients: Vec<ClientConfig>,
        extra: Option<ExtraRoutes>,
    ) -> Server {
        let paths = SocketIoPaths::new(server.sub_directory.as_deref());
        let (socket_io, io) = SocketIo::builder()
            .req_path(INTERNAL_SOCKET_IO_PATH)
            // socket.io 4's default `maxHttpBufferSize`, which the original keeps.
            .max_payload(1_000_000)
            // Packets queued per socket before emits fail. socketioxide's default of 128
            // drops messages when a busy room bursts; Node's socket.io never drops.
            .max_buffer_size(SOCKET_BUFFER_PACKETS)
            .build_svc();
        let registry = Arc::new(Clients::default());
        let mut routes = http::backend::router(registry.clone());
        if let Some(extra) = extra {
            routes = routes.merge(extra(registry.clone()));
        }
        let server = Server {
            config: server.clone(),
            dispatch: Dispatch::new(paths.clone(), socket_io, routes),
            clients: registry,
            io,
            paths,
            connectors: Mutex::new(HashMap::new()),
            status_changed: Arc::new(Notify::new()),
        };
        for config in clients {
            server.add_client(config, false);
        }
        server
    }

    /// Every client of this server.
    pub fn clients(&self) -> Arc<Clients> {
        self.clients.clone()
    }

    /// The public socket.io path (the on-screen chat's).
    pub fn socket_io_path(&self) -> &str {
        self.paths.primary()
    }

    /// Registers a client's namespaces and state; `connect` also starts its database
    /// connector (at start-up that waits until the runtime serves).
    fn add_client(&self, config: ClientConfig, connect: bool) -> Arc<Client> {
        let client = Arc::new(Client::new(config, self.io.clone()));
        room::attach(&self.io, client.clone());
        im::attach(&self.io, client.clone());
        self.clients.insert(client.clone());
        if connect {
            self.start_connector(client.clone());
        }
        client
    }

    fn start_connector(&self, client: Arc<Client>) {
        let changed = self.status_changed.clone();
        let name = client.name().to_string();
        let task = tokio::spawn(async move {
            connect_database(client).await;
            changed.notify_one();
        });
        let previous = self.lock_connectors().insert(name, task.abort_handle());
        if let Some(previous) = previous {
            previous.abort();
        }
    }

    fn lock_connectors(&self) -> std::sync::MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a client out of service: its browsers get `shutdown` and are
    /// disconnected, its pending writes are flushed and its open sessions ended.
    async fn remove_client(&self, name: &str) {
        let Some(client) = self.clients.remove(name) else {
            return;
        };
        if let Some(connector) = self.lock_connectors().remove(name) {
            connector.abort();
        }
        let namespaces = [client.config.room_namespace(), client.config.im_namespace()];
        for namespace in &namespaces {
            say_shutdown(&self.io, namespace).await;
        }
        wait_for_sockets_to_close(&self.io, &namespaces, SHUTDOWN_NOTICE_WAIT).await;
        for namespace in &namespaces {
            // `delete_ns` alone closes the sockets without telling the browsers.
            if let Some(ns) = self.io.of(namespace)
                && let Err(error) = ns.disconnect().await
            {
                tracing::debug!(%namespace, %error, "disconnecting a removed client's sockets failed");
            }
            self.io.delete_ns(namespace);
        }
        room::stop(&client, DRAIN_TIMEOUT).await;
        tracing::info!(client = name, "client removed");
    }

    /// One line for `systemctl status`: clients, their databases, connections.
    pub fn status_line(&self) -> String {
        let clients = self.clients.all();
        let states: Vec<String> = clients
            .iter()
            .map(|c| {
                let state = if c.store().is_some() {
                    "database connected"
                } else {
                    "waiting for database"
                };
                format!("{}: {state}", c.name())
            })
            .collect();
        let connections = open_sockets(&self.io, None);
        format!(
            "{} client{} ({}), {} connection{}",
            clients.len(),
            if clients.len() == 1 { "" } else { "s" },
            states.join(", "),
            connections,
            if connections == 1 { "" } else { "s" },
        )
    }

    /// Serves until `stop` turns true, then says `shutdown` to every browser, closes
    /// every connection, flushes the database writes and returns.
    pub async fn run(self, running: Running) -> std::io::Result<()> {
        let Running {
            listeners,
            tls,
            mut stop,
            reloads,
        } = running;
        let listeners = listeners
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        for client in self.clients.all() {
            self.start_connector(client);
        }
        let _jobs = crate::jobs::spawn(self.clients.clone(), self.config.deletion, stop.clone());
        let mut serving = http::Serving::start(listeners, tls.clone(), self.dispatch.clone());
        // The listeners were bound before and the accept loops run: connections work.
        notify::ready(&self.status_line());

        let (mut reload_requests, reloader) = match reloads {
            Some((requests, reloader)) => (Some(requests), Some(reloader)),
            None => (None, None),
        };
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        let watchdog_every = notify::watchdog_interval();
        let mut watchdog_tick =
            tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                Some(()) = next_request(&mut reload_requests) => {
                    notify::reloading();
                    let status = match &reloader {
                        Some(reloader) => self.reload(reloader, tls.as_ref()).await,
                        None => self.status_line(),
                    };
                    notify::ready(&status);
                }
                _ = status_tick.tick() => notify::status(&self.status_line()),
                _ = self.status_changed.notified() => notify::status(&self.status_line()),
                // Sent from the serving loop: a wedged runtime stops the pings.
                _ = watchdog_tick.tick(), if watchdog_every.is_some() => notify::watchdog(),
            }
        }

        notify::stopping();
        serving.stop_accepting().await;
        for namespace in self.namespaces() {
            say_shutdown(&self.io, &namespace).await;
        }
        wait_for_sockets_to_close(&self.io, &self.namespaces(), SHUTDOWN_NOTICE_WAIT).await;
        self.io.close().await;
        serving.drain(DRAIN_TIMEOUT).await;
        for client in self.clients.all() {
            room::stop(&client, DRAIN_TIMEOUT).await;
        }
        Ok(())
    }

    fn namespaces(&self) -> Vec<String> {
        self.clients
            .all()
            .iter()
            .flat_map(|c| [c.config.room_namespace(), c.config.im_namespace()])
            .collect()
    }

    /// SIGHUP: re-reads server.cfg and every client config. Nothing changes unless
    /// all of them are valid. Returns the new `STATUS=` text.
    async fn reload(&self, reloader: &Reloader, tls: Option<&SharedTls>) -> String {
        let loaded = config::load_server(&reloader.sources.server)
            .map_err(|e| e.to_string())
            .and_then(|server| {
                let files = reloader.sources.client_files().map_err(|e| e.to_string())?;
                let clients = config::load_clients(&files).map_err(|e| e.to_string())?;
                Ok((server, clients))
            });
        let (server, clients) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!("reload failed, configuration unchanged: {error}");
                return format!("reload failed: {error}; {}", self.status_line());
            }
        };
        self.warn_about_restart(&server);
        if let Some(logging) = &reloader.logging {
            logging.reload(server.log_level);
        }
        if let (Some(shared), Protocol::Https(files)) = (tls, &server.protocol) {
            match http::tls::load(files) {
                Ok(acceptor) => *shared.write().unwrap_or_else(|p| p.into_inner()) = acceptor,
                Err(error) => {
                    tracing::error!(%error, "certificates not reloaded; keeping the old ones")
                }
            }
        }
        self.apply_clients(clients).await;
        tracing::info!("configuration reloaded");
        format!("reloaded: {}", self.status_line())
    }

    /// Adds new clients, removes gone ones, applies changes; unchanged clients keep
    /// their connections. A changed secret is swapped in place; a changed database or
    /// ILIAS version rebuilds that client.
    async fn apply_clients(&self, configs: Vec<ClientConfig>) {
        let wanted: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        for client in self.clients.all() {
            if !wanted.iter().any(|name| name == client.name()) {
                self.remove_client(client.name()).await;
            }
        }
        for config in configs {
            let Some(current) = self.clients.get(&config.name) else {
                tracing::info!(client = config.name, "client added");
                self.add_client(config, true);
                continue;
            };
            let same_except_auth = ClientConfig {
                auth: current.config.auth.clone(),
                file: current.config.file.clone(),
                ..config.clone()
            } == current.config;
            if same_except_auth {
                if current.auth() != config.auth {
                    tracing::info!(client = config.name, "backend credentials changed");
                    current.set_auth(config.auth);
                }
            } else {
                tracing::info!(
                    client = config.name,
                    "database or ILIAS version changed; restarting the client"
                );
                self.remove_client(&config.name).await;
                self.add_client(config, true);
            }
        }
    }

    /// Settings that only take effect at start-up.
    fn warn_about_restart(&self, new: &ServerConfig) {
        let old = &self.config;
        let changes = [
            ("address", old.address != new.address),
            ("port", old.port != new.port),
            (
                "protocol",
                std::mem::discriminant(&old.protocol) != std::mem::discriminant(&new.protocol),
            ),
            ("sub_directory", old.sub_directory != new.sub_directory),
            (
                "log/error_log",
                old.log != new.log || old.error_log != new.error_log,
            ),
            ("deletion settings", old.deletion != new.deletion),
        ];
        for (key, changed) in changes {
            if changed {
                tracing::warn!("server.cfg: {key} changed; restart the service to apply it");
            }
        }
    }
}

/// The next reload request, or never when there is no reload channel.
async fn next_request(requests: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match requests {
        Some(requests) => requests.recv().await,
        None => std::future::pending().await,
    }
}

/// Sockets open in the given namespaces (all when `None`).
fn open_sockets(io: &SocketIo, namespaces: Option<&[String]>) -> usize {
    io.nsps()
        .into_iter()
        .filter(|ns| namespaces.is_none_or(|wanted| wanted.iter().any(|w| w == ns.ns_path())))
        .map(|ns| ns.sockets().len())
        .sum()
}

/// Waits until the namespaces have no socket left or `limit` has passed.
async fn wait_for_sockets_to_close(io: &SocketIo, namespaces: &[String], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline && open_sockets(io, Some(namespaces)) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Emits `shutdown` (no payload) to every socket of a namespace: ILIAS browsers then
/// close the socket and reload the page.
async fn say_shutdown(io: &SocketIo, namespace: &str) {
    if let Some(ns) = io.of(namespace)
        && let Err(error) = ns.emit("shutdown", &[(); 0]).await
    {
        tracing::debug!(%namespace, %error, "shutdown broadcast failed");
    }
}

/// Settles a client's ILIAS release line and logs which one it got and why: the
/// `ilias_version` pinned in client.cfg wins (with a warning when the database says
/// otherwise), else what the database tells.
async fn decide_generation(client: &Client, store: &Store) {
    let detected = store.detect_generation().await;
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
            tracing::info!(client = client.name(), generation = %pinned, how = "ilias_version in client.cfg", "ILIAS {pinned} profile");
        }
        (Some(pinned), Err(_)) => {
            tracing::info!(client = client.name(), generation = %pinned, how = "ilias_version in client.cfg", "ILIAS {pinned} profile");
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

/// Connects a client's database (retrying until it works), detects its ILIAS
/// generation and loads its rooms. Until then the client serves Heartbeat and sockets.
async fn connect_database(client: Arc<Client>) {
    let store = Store::connect_with_retry(client.name(), &client.config.database)
        .await
        .with_column_charsets(client.name())
        .await;
    decide_generation(&client, &store).await;
    if let Some(worker) = client.take_write_worker() {
        tokio::spawn(worker.run(store.clone()));
    }
    client.set_store(store);
    match room::start(&client).await {
        Ok(count) => tracing::info!(client = client.name(), rooms = count, "chat rooms loaded"),
        Err(error) => tracing::error!(client = client.name(), %error, "cannot load chat rooms"),
    }
    match im::start(&client).await {
        Ok(count) => {
            tracing::info!(
                client = client.name(),
                conversations = count,
                "conversations loaded"
            )
        }
        Err(error) => tracing::error!(client = client.name(), %error, "cannot load conversations"),
    }
    im::ready(&client);
}
