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

mod clients;
mod reload;
mod resume;
pub mod status;

pub use clients::{ServedClient, ServedClients};
pub use reload::Reloader;

use crate::config::{ClientConfig, ServerConfig};
use crate::daemon::notify;
use crate::daemon::state::StateDir;
use crate::http::{self, Dispatch, SharedTls, SocketIoPaths, dispatch::INTERNAL_SOCKET_IO_PATH};
use crate::store::Reachability;
use crate::{im, room};

/// How long open connections get to finish after a stop was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long browsers get to receive `shutdown` (and close by themselves, as ILIAS
/// pages do) before the remaining connections are cut. Without it a long-poll or a
/// websocket frame still in flight can be lost.
const SHUTDOWN_NOTICE_WAIT: Duration = Duration::from_secs(1);

/// Outgoing packets a socket may have queued (a slow browser in a busy room).
const SOCKET_BUFFER_PACKETS: usize = 8192;

/// [`http::stream::MAX_MESSAGE_BYTES`] for tungstenite.
const WS_MAX_MESSAGE_BYTES: usize = http::stream::MAX_MESSAGE_BYTES as usize;

/// Each websocket's read buffer, held for the connection's life (engineioxide's
/// default is 4 KiB). Browsers send short events (a chat message is a few hundred
/// bytes); a longer one is read in more steps, its full length reserved once.
const WS_READ_BUFFER_BYTES: usize = 256;

/// How often `STATUS=` is refreshed for `systemctl status`.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// How often each client's database is asked whether it answers (health route,
/// metrics, `STATUS=`, the once-a-minute warning).
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Extra HTTP routes (the demo page), built once the clients exist.
pub type ExtraRoutes = Box<dyn FnOnce(Arc<ServedClients>) -> Router + Send>;

/// Everything [`Server::run`] serves with.
pub struct Running {
    pub listeners: Vec<std::net::TcpListener>,
    pub tls: Option<SharedTls>,
    /// Turns true when the server should stop.
    pub stop: watch::Receiver<bool>,
    /// One message per SIGHUP, and what to reload then.
    pub reloads: Option<(mpsc::UnboundedReceiver<()>, Reloader)>,
    /// Where the Prometheus metrics are served, if anywhere.
    pub metrics: Option<std::net::TcpListener>,
    /// The listening sockets outlive this process (systemd passed them: socket
    /// activation), so browsers reconnect to the next one. A stop is then a pause:
    /// no `shutdown` to browsers, sessions stay open, the restart snapshot is saved.
    /// Otherwise a stop is for good, as in the original.
    pub sockets_outlive_us: bool,
    /// The socket units that passed the sockets (see [`crate::daemon::stop`]): a
    /// stop while systemd stops one of them is for good.
    pub socket_units: Vec<String>,
}

/// A configured server, ready to serve.
pub struct Server {
    config: ServerConfig,
    /// Where the journal and the snapshot live.
    state: StateDir,
    clients: Arc<ServedClients>,
    io: SocketIo,
    dispatch: Dispatch,
    paths: SocketIoPaths,
    /// The database connector of each client, to stop it when the client goes away.
    connectors: Mutex<HashMap<String, AbortHandle>>,
    /// Poked when something shown in `STATUS=` changed.
    status_changed: Arc<Notify>,
    /// Connection limits: descriptors, per address, header timeout.
    edge: Arc<http::Edge>,
}

impl Server {
    /// Builds namespaces, routes and per-client state. Must run inside the runtime.
    pub fn new(
        server: &ServerConfig,
        clients: Vec<ClientConfig>,
        state: StateDir,
        extra: Option<ExtraRoutes>,
    ) -> Server {
        // First: raising the descriptor limit and counting what is open belong before
        // anything else opens descriptors.
        let edge = http::Edge::start(server.edge, clients.len());
        crate::socket::deadline::set_login_timeout(server.edge.login_timeout);
        let paths = SocketIoPaths::new(server.sub_directory.as_deref());
        let (socket_io, io) = SocketIo::builder()
            .req_path(INTERNAL_SOCKET_IO_PATH)
            // socket.io 4's default `maxHttpBufferSize`, which the original keeps.
            .max_payload(http::stream::MAX_MESSAGE_BYTES)
            // The same bound over websocket (tungstenite's defaults are 64 MB and 16
            // MB); the connection guard refuses a longer message before it is read.
            .ws_max_message_size(WS_MAX_MESSAGE_BYTES)
            .ws_max_frame_size(WS_MAX_MESSAGE_BYTES)
            .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
            // Packets queued per socket before emits fail. socketioxide's default of 128
            // drops messages when a busy room bursts; Node's socket.io never drops.
            .max_buffer_size(SOCKET_BUFFER_PACKETS)
            .build_svc();
        let registry = Arc::new(ServedClients::default());
        let features = room::backend::routes()
            .merge(im::backend::routes())
            .merge(status::routes());
        let mut routes = http::backend::router(registry.clone(), features);
        if let Some(extra) = extra {
            routes = routes.merge(extra(registry.clone()));
        }
        room::set_reconnect_window(server.reconnect_window);
        room::set_userlist_interval(server.userlist_interval);
        http::stream::set_write_timeout(server.write_timeout);
        let server = Server {
            config: server.clone(),
            state,
            dispatch: Dispatch::new(paths.clone(), socket_io, routes),
            clients: registry,
            io,
            paths,
            connectors: Mutex::new(HashMap::new()),
            status_changed: Arc::new(Notify::new()),
            edge,
        };
        for config in clients {
            server.add_client(config, false);
        }
        server
    }

    /// The state directory (write journal, restart snapshot).
    pub fn state_dir(&self) -> &StateDir {
        &self.state
    }

    /// Every client of this server.
    pub fn clients(&self) -> Arc<ServedClients> {
        self.clients.clone()
    }

    /// The public socket.io path (the on-screen chat's).
    pub fn socket_io_path(&self) -> &str {
        self.paths.primary()
    }

    /// Registers a client's namespaces and state; `connect` also starts its database
    /// connector (at start-up that waits until the runtime serves).
    pub(super) fn add_client(&self, config: ClientConfig, connect: bool) {
        let served = ServedClient::attach(config, &self.io, &self.state);
        self.clients.insert(served.clone());
        if connect {
            self.start_connector(served);
        }
    }

    fn start_connector(&self, served: ServedClient) {
        let changed = self.status_changed.clone();
        let name = served.name().to_string();
        let task = tokio::spawn(async move {
            served.connect_database().await;
            changed.notify_one();
            let mut probe = tokio::time::interval(PROBE_INTERVAL);
            probe.tick().await;
            loop {
                probe.tick().await;
                if served.probe_database().await {
                    changed.notify_one();
                }
            }
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
    pub(super) async fn remove_client(&self, name: &str) {
        let Some(served) = self.clients.remove(name) else {
            return;
        };
        let client = &served.client;
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
        room::stop(&served.rooms, DRAIN_TIMEOUT).await;
        tracing::info!(client = name, "client removed");
    }

    /// One line for `systemctl status`: clients, their databases, connections.
    pub fn status_line(&self) -> String {
        let clients = self.clients.all();
        let states: Vec<String> = clients
            .iter()
            .map(|c| {
                let connected = c.client.store().is_some();
                let writes = c.client.write_status().summary();
                let state = match c.client.database_health().report().reachability {
                    Reachability::Unreachable(_) if connected => {
                        format!("database unreachable; {writes}")
                    }
                    Reachability::Unreachable(_) => "waiting for database (unreachable)".into(),
                    Reachability::Unknown if !connected => "waiting for database".into(),
                    _ => writes,
                };
                format!("{}: {state}", c.name())
            })
            .collect();
        let connections = open_sockets(&self.io, None);
        let line = format!(
            "{} client{} ({}), {} connection{}",
            clients.len(),
            if clients.len() == 1 { "" } else { "s" },
            states.join(", "),
            connections,
            if connections == 1 { "" } else { "s" },
        );
        match self.edge.status_note() {
            Some(note) => format!("{line}; {note}"),
            None => line,
        }
    }

    /// Serves until `stop` turns true, then says `shutdown` to every browser, closes
    /// every connection, flushes the database writes and returns.
    pub async fn run(self, running: Running) -> std::io::Result<()> {
        let Running {
            listeners,
            tls,
            mut stop,
            reloads,
            metrics,
            sockets_outlive_us,
            socket_units,
        } = running;
        crate::daemon::stop::clear_stale_marker(&self.state);
        let _metrics = match metrics {
            Some(listener) => Some(self.serve_metrics(listener)?),
            None => None,
        };
        let listeners = listeners
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        // Before the database connectors: their start-up clean-up keeps the sessions
        // of the users the snapshot brings back.
        self.resume_from_snapshot();
        for client in self.clients.all() {
            self.start_connector(client);
        }
        let registry = self.clients.clone();
        let chats: crate::jobs::ClientList =
            Arc::new(move || registry.all().into_iter().map(|c| c.im).collect());
        let _jobs = crate::jobs::spawn(chats, self.config.deletion, stop.clone());
        let mut serving = http::Serving::start(
            listeners,
            tls.clone(),
            self.dispatch.clone(),
            self.edge.clone(),
        );
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
        let pause = sockets_outlive_us && {
            match crate::daemon::stop::for_good(&self.state, &socket_units).await {
                Some(reason) => {
                    tracing::info!(%reason, "stop for good: browsers are told shutdown");
                    false
                }
                None => {
                    tracing::info!("stop is a pause: browsers resume with the next process");
                    true
                }
            }
        };
        serving.stop_accepting().await;
        if pause {
            // Browsers lose the connection without a word and reconnect by themselves
            // to the next process, which resumes from the snapshot.
            self.save_snapshot();
        } else {
            for namespace in self.namespaces() {
                say_shutdown(&self.io, &namespace).await;
            }
            wait_for_sockets_to_close(&self.io, &self.namespaces(), SHUTDOWN_NOTICE_WAIT).await;
        }
        self.io.close().await;
        serving.drain(DRAIN_TIMEOUT).await;
        // All clients at once: the stop never waits longer than one drain timeout on
        // the databases; what they do not take is in the journals.
        let mut stopping = tokio::task::JoinSet::new();
        for served in self.clients.all() {
            stopping.spawn(async move {
                if pause {
                    room::pause(&served.rooms, DRAIN_TIMEOUT).await;
                } else {
                    room::stop(&served.rooms, DRAIN_TIMEOUT).await;
                }
            });
        }
        while stopping.join_next().await.is_some() {}
        Ok(())
    }

    /// Starts serving the metrics; the listener stops when the returned guard drops.
    fn serve_metrics(&self, listener: std::net::TcpListener) -> std::io::Result<AbortOnDrop> {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let registry = self.clients.clone();
        let source: crate::metrics::endpoint::SnapshotSource =
            Arc::new(move || status::snapshot(&registry));
        let task = tokio::spawn(crate::metrics::endpoint::serve(listener, source));
        Ok(AbortOnDrop(task.abort_handle()))
    }

    fn namespaces(&self) -> Vec<String> {
        self.clients
            .all()
            .iter()
            .flat_map(|c| {
                [
                    c.client.config.room_namespace(),
                    c.client.config.im_namespace(),
                ]
            })
            .collect()
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
