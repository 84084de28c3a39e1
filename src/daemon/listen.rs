//! Listening sockets: the ones systemd passes (`LISTEN_FDS`), else `address:port` from
//! server.cfg. Runs before the runtime starts (listenfd edits the environment).

use std::net::{TcpListener, ToSocketAddrs};

use crate::config::ServerConfig;

/// Why no listening socket could be had. The I/O error is part of the message, not a
/// `source()`: printed with its cause chain (`{:#}`) it would appear twice.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("socket {index} passed by systemd is not a TCP listening socket: {cause}")]
    Inherited { index: usize, cause: std::io::Error },
    #[error("cannot resolve {address}: {cause}")]
    Resolve {
        address: String,
        cause: std::io::Error,
    },
    #[error("{address}:{port} resolves to no address")]
    NoAddress { address: String, port: u16 },
    #[error("cannot listen on {target}: {cause}")]
    Bind {
        target: String,
        cause: std::io::Error,
    },
}

/// The name (`FileDescriptorName=` in the .socket unit) of a passed socket meant for the
/// Prometheus metrics rather than the chat.
pub const METRICS_SOCKET_NAME: &str = "metrics";

/// The listening sockets of the process.
#[derive(Debug)]
pub struct Listeners {
    /// Where the chat is served.
    pub chat: Vec<TcpListener>,
    /// Where the metrics are served, if anywhere.
    pub metrics: Option<TcpListener>,
}

/// Takes the sockets systemd passed, or binds server.cfg's `address:port`; the same for
/// the metrics (a passed socket named `metrics`, else server.cfg's `metrics` section).
/// Every listener is non-blocking, ready for tokio.
pub fn take_listeners(server: &ServerConfig) -> Result<Listeners, ListenError> {
    let (inherited, inherited_metrics) = inherited_listeners()?;
    let metrics = match (inherited_metrics, &server.metrics) {
        (Some(listener), _) => Some(listener),
        (None, Some(metrics)) => Some(bind(&metrics.address, metrics.port)?),
        (None, None) => None,
    };
    if let Some(listener) = &metrics {
        set_nonblocking(listener)?;
    }
    Ok(Listeners {
        chat: take_chat_listeners(server, inherited)?,
        metrics,
    })
}

fn take_chat_listeners(
    server: &ServerConfig,
    inherited: Vec<TcpListener>,
) -> Result<Vec<TcpListener>, ListenError> {
    let listeners = if inherited.is_empty() {
        vec![bind(&server.address, server.port)?]
    } else {
        tracing::info!(
            count = inherited.len(),
            "using sockets passed by systemd; address and port in server.cfg are not used"
        );
        inherited
    };
    for listener in &listeners {
        set_nonblocking(listener)?;
    }
    Ok(listeners)
}

/// tokio takes only non-blocking listeners.
fn set_nonblocking(listener: &TcpListener) -> Result<(), ListenError> {
    listener
        .set_nonblocking(true)
        .map_err(|cause| ListenError::Bind {
            target: describe(listener),
            cause,
        })
}

/// Whether systemd (or another socket activator) passed listening sockets to this
/// process (`LISTEN_FDS`, for this `LISTEN_PID`): they then outlive the process, and
/// connections made while it restarts wait in their backlog.
pub fn passed_by_systemd() -> bool {
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .is_none_or(|pid| pid.trim() == std::process::id().to_string());
    count > 0 && for_us
}

/// The sockets systemd passed: the chat's, and the one named `metrics`.
fn inherited_listeners() -> Result<(Vec<TcpListener>, Option<TcpListener>), ListenError> {
    // Read before listenfd looks at the environment.
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|names| names.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::new();
    let mut metrics = None;
    for index in 0..fds.len() {
        match fds.take_tcp_listener(index) {
            Ok(Some(listener))
                if names.get(index).map(String::as_str) == Some(METRICS_SOCKET_NAME) =>
            {
                metrics = Some(listener)
            }
            Ok(Some(listener)) => listeners.push(listener),
            Ok(None) => {}
            Err(cause) => return Err(ListenError::Inherited { index, cause }),
        }
    }
    Ok((listeners, metrics))
}

/// Binds the first address the name resolves to, like the original.
pub fn bind(address: &str, port: u16) -> Result<TcpListener, ListenError> {
    let mut addresses =
        (address, port)
            .to_socket_addrs()
            .map_err(|cause| ListenError::Resolve {
                address: address.to_string(),
                cause,
            })?;
    let first = addresses.next().ok_or_else(|| ListenError::NoAddress {
        address: address.to_string(),
        port,
    })?;
    let listener = TcpListener::bind(first).map_err(|cause| ListenError::Bind {
        target: first.to_string(),
        cause,
    })?;
    // Calling listen() again on a listening socket sets its backlog. The kernel caps it
    // at net.core.somaxconn (4096 by default since Linux 5.4).
    if let Err(error) = nix::sys::socket::Backlog::new(BACKLOG)
        .and_then(|backlog| nix::sys::socket::listen(&listener, backlog))
    {
        tracing::debug!(%error, "cannot enlarge the listen backlog");
    }
    Ok(listener)
}

/// The listen backlog of sockets bound from server.cfg (systemd's `Backlog=` decides
/// for passed ones): a wave of browsers reconnecting after a restart fits in it instead
/// of being dropped and retried seconds later.
const BACKLOG: i32 = 4096;

/// `ip:port` of a listener, for messages.
pub fn describe(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "an inherited socket".into())
}
