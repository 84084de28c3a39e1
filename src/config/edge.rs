//! The server.cfg keys that bound what one connection may hold (ilias-chat extensions,
//! unknown to ILIAS): `header_timeout`, `login_timeout`, `max_connections_per_address`.

use std::time::Duration;

use super::ConfigError;
use super::value::{Field, Object};

const HEADER_TIMEOUT: &str = "seconds, 1 to 3600";
const LOGIN_TIMEOUT: &str = "seconds, 0 to 86400 (0 turns the deadline off)";
const MAX_CONNECTIONS_PER_ADDRESS: &str =
    "a number of connections, 0 to 1000000 (0 turns the limit off)";

/// Limits on connections that hold resources without doing anything useful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// `header_timeout`: how long a request's header may take to arrive, counted from
    /// the moment the connection waits for it (after the accept, and again after each
    /// response of a keep-alive connection, so it is also the idle timeout).
    pub header_timeout: Duration,
    /// `login_timeout`: how long a socket.io socket may stay connected without sending
    /// `login`; `None` keeps such sockets for as long as they stay connected.
    pub login_timeout: Option<Duration>,
    /// `max_connections_per_address`: how many connections one peer address may have
    /// open at once; `None` (the default) sets no bound. Loopback peers are never
    /// bounded: behind a reverse proxy on the same host every browser is the proxy.
    pub max_connections_per_address: Option<u32>,
}

impl EdgeLimits {
    /// `header_timeout` when server.cfg has none: long enough for a browser on a bad
    /// mobile link, short enough that a slowloris peer frees its descriptor soon.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(20);
    /// `login_timeout` when server.cfg has none. ILIAS pages send `login` as soon as the
    /// socket connects, so a minute only ever cuts off sockets that will never log in.
    pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            login_timeout: Some(Self::DEFAULT_LOGIN_TIMEOUT),
            max_connections_per_address: None,
        }
    }
}

/// Reads the three keys from server.cfg's top level.
pub(super) fn load(root: &Object) -> Result<EdgeLimits, ConfigError> {
    Ok(EdgeLimits {
        header_timeout: header_timeout(&root.field("header_timeout"))?,
        login_timeout: login_timeout(&root.field("login_timeout"))?,
        max_connections_per_address: max_per_address(&root.field("max_connections_per_address"))?,
    })
}

fn whole_in(
    field: &Field,
    low: i128,
    high: i128,
    expected: &str,
) -> Result<Option<u64>, ConfigError> {
    match field.integer_in(low, high) {
        // `integer_in` has checked the range, which is within u64.
        Ok(Some(seconds)) => u64::try_from(seconds)
            .map(Some)
            .map_err(|_| field.invalid("is out of range", expected)),
        Ok(None) => Ok(None),
        Err(_) => Err(field.invalid("is not valid", expected)),
    }
}

fn header_timeout(field: &Field) -> Result<Duration, ConfigError> {
    Ok(whole_in(field, 1, 3600, HEADER_TIMEOUT)?
        .map(Duration::from_secs)
        .unwrap_or(EdgeLimits::DEFAULT_HEADER_TIMEOUT))
}

fn login_timeout(field: &Field) -> Result<Option<Duration>, ConfigError> {
    Ok(match whole_in(field, 0, 86_400, LOGIN_TIMEOUT)? {
        None => Some(EdgeLimits::DEFAULT_LOGIN_TIMEOUT),
        Some(0) => None,
        Some(seconds) => Some(Duration::from_secs(seconds)),
    })
}

fn max_per_address(field: &Field) -> Result<Option<u32>, ConfigError> {
    match whole_in(field, 0, 1_000_000, MAX_CONNECTIONS_PER_ADDRESS)? {
        None | Some(0) => Ok(None),
        Some(count) => u32::try_from(count)
            .map(Some)
            .map_err(|_| field.invalid("is out of range", MAX_CONNECTIONS_PER_ADDRESS)),
    }
}
