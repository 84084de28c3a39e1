//! Assembles a running chat server from validated configuration: one socket.io
//! server with two namespaces per ILIAS client, the backend API, a database connector
//! per client, and the HTTP(S) accept loop with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socketioxide::SocketIo;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::client::{Client, Clients};
use crate::config::{ClientConfig, ServerConfig};
use crate::http::{self, Dispatch, SocketIoPaths, dispatch::INTERNAL_SOCKET_IO_PATH};
use crate::store::Store;
use crate::{im, room};

/// How long open connections get to finish after a stop was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long browsers get to receive `shutdown` (and close by themselves, as ILIAS
/// pages do) before the remaining connections are cut. Without it a long-poll or a
/// websocket frame still in flight can be lost.
const SHUTDOWN_NOTICE_WAIT: Duration = Duration::from_secs(1);

/// Extra HTTP routes (the demo page), built once the clients exist.
pub type ExtraRoutes = Box<dyn FnOnce(Arc<Clients>) -> Router + Send>;

/// A configured server, ready to serve.
pub struct Server {
    clients: Arc<Clients>,
    io: SocketIo,
    dispatch: Dispatch,
    paths: SocketIoPaths,
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
            .build_svc();
        let registry = Arc::new(Clients::default());
        for config in clients {
            let client = Arc::new(Client::new(config, io.clone()));
            room::attach(&io, client.clone());
            im::attach(&io, client.clone());
            registry.insert(client);
        }
        let mut routes = http::backend::router(registry.clone());
        if let Some(extra) = extra {
            routes = routes.merge(extra(registry.clone()));
        }
        Server {
            dispatch: Dispatch::new(paths.clone(), socket_io, routes),
            clients: registry,
            io,
            paths,
        }
    }

    /// Every client of this server.
    pub fn clients(&self) -> Arc<Clients> {
        self.clients.clone()
    }

    /// The public socket.io path (the on-screen chat's).
    pub fn socket_io_path(&self) -> &str {
        self.paths.primary()
    }

    /// Serves until `stop` turns true, then says `shutdown` to every browser, closes
    /// every connection and returns.
    pub async fn run(
        self,
        listeners: Vec<std::net::TcpListener>,
        tls: Option<TlsAcceptor>,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let listeners = listeners
            .into_iter()
            .map(tokio::net::TcpListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        for client in self.clients.all() {
            tokio::spawn(connect_database(client));
        }
        let mut serving = http::Serving::start(listeners, tls, self.dispatch.clone());
        let mut stop = stop;
        // A dropped sender means nobody can ask for a stop any more: also stop.
        let _ = stop.wait_for(|stop| *stop).await;
        serving.stop_accepting().await;
        self.say_shutdown().await;
        self.wait_for_sockets_to_close(SHUTDOWN_NOTICE_WAIT).await;
        self.io.close().await;
        serving.drain(DRAIN_TIMEOUT).await;
        for client in self.clients.all() {
            room::stop(&client, DRAIN_TIMEOUT).await;
        }
        Ok(())
    }

    /// Waits until every socket has gone or `limit` has passed.
    async fn wait_for_sockets_to_close(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let open: usize = self
                .io
                .nsps()
                .into_iter()
                .map(|ns| ns.sockets().len())
                .sum();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Emits `shutdown` (no payload) to every socket: ILIAS browsers then close the
    /// socket and reload the page.
    async fn say_shutdown(&self) {
        for client in self.clients.all() {
            for namespace in [client.config.room_namespace(), client.config.im_namespace()] {
                if let Some(ns) = self.io.of(&namespace)
                    && let Err(error) = ns.emit("shutdown", &[(); 0]).await
                {
                    tracing::debug!(%namespace, %error, "shutdown broadcast failed");
                }
            }
        }
    }
}

/// Connects a client's database (retrying until it works), detects its ILIAS
/// generation and loads its rooms. Until then the client serves Heartbeat and sockets.
async fn connect_database(client: Arc<Client>) {
    let store = Store::connect_with_retry(client.name(), &client.config.database).await;
    if client.config.ilias_version.is_none() {
        match store.detect_generation().await {
            Ok(generation) => {
                tracing::info!(client = client.name(), %generation, "ILIAS generation detected");
                client.set_detected_generation(generation);
            }
            Err(error) => {
                tracing::warn!(client = client.name(), %error, "cannot detect the ILIAS generation; assuming 9")
            }
        }
    }
    if let Some(worker) = client.take_write_worker() {
        tokio::spawn(worker.run(store.clone()));
    }
    client.set_store(store);
    match room::start(&client).await {
        Ok(count) => tracing::info!(client = client.name(), rooms = count, "chat rooms loaded"),
        Err(error) => tracing::error!(client = client.name(), %error, "cannot load chat rooms"),
    }
}
