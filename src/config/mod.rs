//! The two configuration files ILIAS writes: `server.cfg` (one per process) and
//! `client.cfg` (one per ILIAS client).
//!
//! Parsing is tolerant where ILIAS itself is sloppy (numbers written as strings,
//! `deletion_mode` as `1` or `"1"`, `log` as `0`, empty strings meaning "unset", unknown
//! keys) and strict where a value cannot work. Every error names the file, the key and
//! what is wrong, so an operator can fix it without reading code.

use std::path::{Path, PathBuf};

mod client;
mod edge;
mod enums;
mod identity;
mod server;
mod summary;
mod value;

#[cfg(test)]
mod tests;

pub use edge::EdgeLimits;
pub use enums::InvalidValue;
pub use identity::{DEFAULT_SESSION_COOKIE, IdentityConfig, VerifySession};

/// A problem with one configuration file. Displayed as `FILE: KEY: PROBLEM`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON (or not a JSON object).
    #[error("{file}: not valid JSON: {problem}")]
    Syntax { file: PathBuf, problem: String },
    /// A key is missing or has a value that cannot work.
    #[error("{file}: {key}: {problem}")]
    Key {
        file: PathBuf,
        key: String,
        problem: String,
    },
    /// Two client configurations use the same `name`.
    #[error("{file}: name: \"{name}\" is already used by {other}")]
    DuplicateName {
        file: PathBuf,
        name: String,
        other: PathBuf,
    },
}

/// `protocol` in server.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https(TlsFiles),
}

/// TLS material named in server.cfg (`cert`, `key`, `dhparam`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Accepted for compatibility and ignored (rustls has no finite-field DHE).
    pub dhparam: Option<PathBuf>,
}

/// The nine `log_level` values ILIAS offers (syslog names plus npm's `debug`/`silly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
    Silly,
}

/// `deletion_unit` in server.cfg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionUnit {
    Days,
    Weeks,
    Months,
    Years,
}

/// Local time of day (`deletion_time`, "HH:MM").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

/// The daily purge of old messages; present only when `deletion_mode` is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionPolicy {
    pub unit: DeletionUnit,
    pub value: u32,
    pub time: TimeOfDay,
}

/// server.cfg, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The file this came from (for messages).
    pub file: PathBuf,
    /// IP address or host name to listen on.
    pub address: String,
    pub port: u16,
    pub protocol: Protocol,
    /// `sub_directory` without trailing slashes; `None` when absent or empty.
    /// Always starts with `/` when present.
    pub sub_directory: Option<String>,
    /// `log`; `None` when absent, empty or `0` (then the journal or stderr is used).
    pub log: Option<PathBuf>,
    /// `error_log`; `None` when absent or empty.
    pub error_log: Option<PathBuf>,
    pub log_level: LogLevel,
    pub deletion: Option<DeletionPolicy>,
    /// `reconnect_window` extension key: how long after the grace period a browser may
    /// come back into its rooms without PHP (and how old a restart snapshot may be).
    pub reconnect_window: std::time::Duration,
    /// `write_timeout` extension key: how long a write to a browser may make no
    /// progress before its connection is ended.
    pub write_timeout: std::time::Duration,
    /// `userlist_interval` extension key: the least time between two user lists sent
    /// to a chat room (zero: one for every change, as the original).
    pub userlist_interval: std::time::Duration,
    /// `metrics` extension key: where the Prometheus metrics are served; `None` (the
    /// default) serves none.
    pub metrics: Option<MetricsListen>,
    /// `header_timeout`, `login_timeout`, `max_connections_per_address` extension keys.
    pub edge: EdgeLimits,
}

/// The listener of the Prometheus metrics (`"metrics": {"address": …, "port": …}` in
/// server.cfg). It has no authentication, hence loopback by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsListen {
    pub address: String,
    pub port: u16,
}

impl MetricsListen {
    /// Where the metrics listen when `metrics` is `true` or an empty object.
    pub const DEFAULT_ADDRESS: &'static str = "127.0.0.1";
    /// The port registered for ilias-chat's exporter (Prometheus exporters use 9xxx).
    pub const DEFAULT_PORT: u16 = 9464;
}

/// ILIAS release line a client runs; decides route shapes, escaping and payload extras.
/// Ordered by release, so `>= Ilias10` means "ILIAS 10 or later". ILIAS 11 and 12 share
/// ILIAS 10's profile except where [`Generation`]'s methods say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Generation {
    Ilias8,
    Ilias9,
    Ilias10,
    Ilias11,
    Ilias12,
}

/// `auth` in client.cfg: the HTTP Basic credentials ILIAS PHP sends to `/backend`.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where a client's database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// MySQL or MariaDB (ILIAS writes `type: "mysql"` for every flavour).
    Mysql {
        /// Host name or IP; `None` when a unix socket is used.
        host: Option<String>,
        /// TCP port (3306 when the file says 0 or nothing).
        port: u16,
        /// Unix socket path (`host` starting with `/`, or the `socket` key).
        socket: Option<PathBuf>,
        name: String,
        user: String,
        pass: String,
    },
    /// SQLite file (extension used by `--demo`; `name` is the file path).
    Sqlite { path: PathBuf },
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl DatabaseConfig {
    /// A one-line description without the password, for logs and `--check`.
    pub fn describe(&self) -> String {
        match self {
            DatabaseConfig::Mysql {
                socket: Some(socket),
                name,
                user,
                ..
            } => format!("mysql://{user}@unix:{}/{name}", socket.display()),
            DatabaseConfig::Mysql {
                host,
                port,
                name,
                user,
                ..
            } => format!(
                "mysql://{user}@{}:{port}/{name}",
                host.as_deref().unwrap_or("localhost")
            ),
            DatabaseConfig::Sqlite { path } => format!("sqlite://{}", path.display()),
        }
    }
}

/// client.cfg, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The file this came from (for messages).
    pub file: PathBuf,
    /// The instance name: namespaces `/<name>` and `/<name>-im`, URL segment of `/backend`.
    pub name: String,
    pub auth: Auth,
    pub database: DatabaseConfig,
    /// `ilias_version` extension key; `None` means "detect from the database".
    pub ilias_version: Option<Generation>,
    /// `verify_session` and `session_cookie` extension keys (verified identity).
    pub identity: IdentityConfig,
}

impl ClientConfig {
    /// Namespace of the repository chat rooms.
    pub fn room_namespace(&self) -> String {
        format!("/{}", self.name)
    }

    /// Namespace of the on-screen chat.
    pub fn im_namespace(&self) -> String {
        format!("/{}-im", self.name)
    }
}

/// Reads and validates server.cfg.
///
/// Only reads files: host names are not resolved and nothing is bound here. For https
/// the certificate, key and (if given) dhparam files must exist.
pub fn load_server(path: &Path) -> Result<ServerConfig, ConfigError> {
    server::load(path)
}

/// Reads and validates one client.cfg.
pub fn load_client(path: &Path) -> Result<ClientConfig, ConfigError> {
    client::load(path)
}

/// Reads every client.cfg in order and rejects duplicate names, and names whose
/// namespaces collide (client `x-im`'s room namespace is client `x`'s on-screen chat).
pub fn load_clients(paths: &[PathBuf]) -> Result<Vec<ClientConfig>, ConfigError> {
    let mut clients: Vec<ClientConfig> = Vec::with_capacity(paths.len());
    for path in paths {
        let client = load_client(path)?;
        for earlier in &clients {
            check_distinct(earlier, &client)?;
        }
        clients.push(client);
    }
    Ok(clients)
}

/// Every clash among already loaded client configurations (duplicate names, colliding
/// namespaces), for `--check`, which reports all of them.
pub fn clashes(clients: &[ClientConfig]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (index, client) in clients.iter().enumerate() {
        if let Some(error) = clients[..index]
            .iter()
            .find_map(|earlier| check_distinct(earlier, client).err())
        {
            errors.push(error);
        }
    }
    errors
}

/// The original server silently misrouted clients that share a namespace; refuse them.
fn check_distinct(earlier: &ClientConfig, client: &ClientConfig) -> Result<(), ConfigError> {
    if earlier.name == client.name {
        return Err(ConfigError::DuplicateName {
            file: client.file.clone(),
            name: client.name.clone(),
            other: earlier.file.clone(),
        });
    }
    let clash = if client.room_namespace() == earlier.im_namespace() {
        Some(("its namespace", client.room_namespace(), "on-screen chat"))
    } else if client.im_namespace() == earlier.room_namespace() {
        Some((
            "its on-screen chat namespace",
            client.im_namespace(),
            "room",
        ))
    } else {
        None
    };
    match clash {
        Some((ours, namespace, theirs)) => Err(ConfigError::Key {
            file: client.file.clone(),
            key: "name".to_owned(),
            problem: format!(
                "\"{}\": {ours} {namespace} is already the {theirs} namespace of \"{}\" in {}",
                client.name,
                earlier.name,
                earlier.file.display()
            ),
        }),
        None => Ok(()),
    }
}
