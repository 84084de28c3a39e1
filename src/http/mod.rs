//! The HTTP(S) server: our own accept loop over hyper 1, so that systemd's sockets,
//! TLS and websocket upgrades all go through one place, and a graceful shutdown that
//! also covers upgraded connections (which hyper-util's helper cannot watch).

pub mod auth;
pub mod backend;
pub mod bundle;
pub mod dispatch;
pub mod head;
pub mod limits;
pub mod stream;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use dispatch::{Dispatch, SocketIoPaths};
pub use limits::Edge;
pub use tls::SharedTls;

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The accept loops of every listener, and the connections they started.
pub struct Serving {
    accept_tasks: tokio::task::JoinSet<()>,
    drain_tx: watch::Sender<bool>,
    drain_rx: watch::Receiver<bool>,
}

impl Serving {
    /// Starts accepting on every listener, each connection within `edge`'s limits.
    pub fn start(
        listeners: Vec<TcpListener>,
        tls: Option<SharedTls>,
        service: Dispatch,
        edge: Arc<Edge>,
    ) -> Serving {
        // Every connection holds a receiver; `closed()` on the sender tells when all ended.
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut accept_tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            accept_tasks.spawn(accept_loop(
                listener,
                tls.clone(),
                service.clone(),
                drain_rx.clone(),
                edge.clone(),
            ));
        }
        Serving {
            accept_tasks,
            drain_tx,
            drain_rx,
        }
    }

    /// Closes the listeners; open connections carry on (a long-poll may still have to
    /// deliver the `shutdown` event).
    pub async fn stop_accepting(&mut self) {
        self.accept_tasks.abort_all();
        while self.accept_tasks.join_next().await.is_some() {}
    }

    /// Asks every open connection to finish and waits for them, at most `timeout`.
    pub async fn drain(mut self, timeout: Duration) {
        self.stop_accepting().await;
        let Serving {
            drain_tx, drain_rx, ..
        } = self;
        drop(drain_rx);
        let _ = drain_tx.send(true);
        if tokio::time::timeout(timeout, drain_tx.closed())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<SharedTls>,
    service: Dispatch,
    drain: watch::Receiver<bool>,
    edge: Arc<Edge>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE: a spare descriptor was given up, the next accept can succeed.
            Err(error) if edge.accept_failed(&error) => continue,
            Err(_) => {
                // Back off instead of spinning (logged in aggregate by `edge`).
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        edge.accepted();
        // `None`: its address has too many connections; dropping the stream closes it.
        let Some(ticket) = edge.admit(peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = if ticket.browsers_refused() {
            service.clone().refusing_browsers()
        } else {
            service.clone()
        };
        let header_timeout = ticket.header_timeout();
        let stream = limits::Tracked::new(stream, ticket);
        let service = service.for_connection(stream.closer());
        tokio::spawn(connection(
            stream,
            header_timeout,
            tls.clone(),
            service,
            drain.clone(),
            peer,
        ));
    }
}

async fn connection(
    stream: limits::Tracked<TcpStream>,
    header_timeout: Duration,
    tls: Option<SharedTls>,
    service: Dispatch,
    drain: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) {
    match tls {
        None => {
            let guarded = stream::Guarded::new(stream);
            serve_http(TokioIo::new(guarded), service, drain, header_timeout).await
        }
        Some(shared) => {
            // Read per connection: a reload may have installed a renewed certificate.
            let acceptor = shared
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let guarded = stream::Guarded::new(stream);
                    serve_http(TokioIo::new(guarded), service, drain, header_timeout).await
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// Serves HTTP/1 on a connection. hyper's header timer runs from the moment it waits
/// for a request head to its end, after the accept and again after every response, so
/// `header_timeout` closes both slow-header (slowloris) and idle keep-alive connections.
async fn serve_http<I>(
    io: TokioIo<I>,
    service: Dispatch,
    mut drain: watch::Receiver<bool>,
    header_timeout: Duration,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = drain.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}
