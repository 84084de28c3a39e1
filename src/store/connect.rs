//! Turning a client.cfg `database` section into an open pool, and deciding how the
//! database is reached: `"host": "localhost"` means the local unix socket, as it does
//! for PHP's mysqli, when one is at a standard place.

use std::fmt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;

use super::{Dialect, Store, StoreError};
use crate::config::DatabaseConfig;

/// How long opening the pool (one connection, login included) may take: a database
/// host that drops packets or a server that hangs must not stall start-up forever.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write or read waits for a pooled connection (opening one included).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The original server used a pool of 10; the write-behind queue needs one connection
/// and reads are short, so a few more than the CPU count is plenty.
const MYSQL_POOL_SIZE: u32 = 8;

pub(super) async fn open(config: &DatabaseConfig) -> Result<Store, StoreError> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);

    let (url, dialect) = url_of(config, &Route::of(config));
    // SQLite allows one writer at a time; one connection keeps the demo free of
    // "database is locked" errors.
    let size = match dialect {
        Dialect::Mysql => MYSQL_POOL_SIZE,
        Dialect::Sqlite => 1,
    };
    let connecting = AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(&url);
    let pool = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| StoreError::Connect {
            target: config.describe(),
            source: sqlx::Error::PoolTimedOut,
        })?
        .map_err(|source| StoreError::Connect {
            target: config.describe(),
            source,
        })?;
    Ok(Store::from_pool(pool, dialect))
}

/// Where the MariaDB/MySQL server packages of Debian put their socket.
const STANDARD_SOCKETS: [&str; 2] = ["/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock"];

/// How a client's database is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A MariaDB/MySQL unix socket.
    Socket(PathBuf),
    /// MariaDB/MySQL over TCP.
    Tcp { host: String, port: u16 },
    /// A SQLite file (the demo).
    File(PathBuf),
}

impl Route {
    /// The route for a `database` section: an explicit socket (`socket` key, or a
    /// `host` that is a path); for `localhost` the standard socket when one exists
    /// (PHP's mysqli does the same, and MariaDB's socket authentication or
    /// `skip-name-resolve` refuse TCP from 127.0.0.1); else TCP.
    pub fn of(config: &DatabaseConfig) -> Route {
        Route::with_standard_sockets(config, &STANDARD_SOCKETS)
    }

    fn with_standard_sockets(config: &DatabaseConfig, standard: &[&str]) -> Route {
        match config {
            DatabaseConfig::Mysql {
                socket: Some(socket),
                ..
            } => Route::Socket(socket.clone()),
            DatabaseConfig::Mysql { host, port, .. } => {
                let host = host.as_deref().unwrap_or("localhost");
                let local_socket = host
                    .eq_ignore_ascii_case("localhost")
                    .then(|| standard.iter().map(Path::new).find(|p| is_socket(p)))
                    .flatten();
                match local_socket {
                    Some(socket) => Route::Socket(socket.to_path_buf()),
                    None => Route::Tcp {
                        host: host.to_string(),
                        port: *port,
                    },
                }
            }
            DatabaseConfig::Sqlite { path } => Route::File(path.clone()),
        }
    }
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Socket(path) => write!(f, "unix socket {}", path.display()),
            Route::Tcp { host, port } => write!(f, "TCP {}:{port}", host_for_url(host)),
            Route::File(path) => write!(f, "SQLite file {}", path.display()),
        }
    }
}

/// Builds the sqlx URL; user name and password are percent-encoded so that any
/// character ILIAS allows in them survives.
fn url_of(config: &DatabaseConfig, route: &Route) -> (String, Dialect) {
    match config {
        DatabaseConfig::Mysql {
            name, user, pass, ..
        } => {
            let credentials = if pass.is_empty() {
                encode(user)
            } else {
                format!("{}:{}", encode(user), encode(pass))
            };
            let url = match route {
                Route::Socket(socket) => format!(
                    "mysql://{credentials}@localhost/{}?socket={}",
                    encode(name),
                    encode(&socket.to_string_lossy())
                ),
                Route::Tcp { host, port } => format!(
                    "mysql://{credentials}@{}:{port}/{}",
                    host_for_url(host),
                    encode(name)
                ),
                // Not produced for a MySQL section; the driver's default then.
                Route::File(_) => format!("mysql://{credentials}@localhost/{}", encode(name)),
            };
            (url, Dialect::Mysql)
        }
        DatabaseConfig::Sqlite { path } => (
            format!("sqlite://{}?mode=rwc", path.to_string_lossy()),
            Dialect::Sqlite,
        ),
    }
}

/// IPv6 literals need brackets inside a URL.
fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn mysql(host: Option<&str>, socket: Option<&str>, pass: &str) -> DatabaseConfig {
        DatabaseConfig::Mysql {
            host: host.map(str::to_string),
            port: 3307,
            socket: socket.map(PathBuf::from),
            name: "ilias db".into(),
            user: "il@s".into(),
            pass: pass.into(),
        }
    }

    fn url(config: &DatabaseConfig) -> (String, Dialect) {
        url_of(config, &Route::with_standard_sockets(config, &[]))
    }

    #[test]
    fn localhost_uses_a_standard_socket_when_one_exists() {
        let dir = std::env::temp_dir().join(format!("ilias-chat-route-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let socket = dir.join("mysqld.sock");
        let _ = std::fs::remove_file(&socket);
        let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let missing = dir.join("missing.sock");
        let standard = [
            missing.to_str().expect("utf-8"),
            socket.to_str().expect("utf-8"),
        ];
        for host in ["localhost", "LocalHost"] {
            assert_eq!(
                Route::with_standard_sockets(&mysql(Some(host), None, ""), &standard),
                Route::Socket(socket.clone())
            );
        }
        assert_eq!(
            Route::with_standard_sockets(&mysql(Some("127.0.0.1"), None, ""), &standard),
            Route::Tcp {
                host: "127.0.0.1".into(),
                port: 3307
            }
        );
        assert_eq!(
            Route::with_standard_sockets(&mysql(Some("localhost"), None, ""), &[]),
            Route::Tcp {
                host: "localhost".into(),
                port: 3307
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tcp_url_encodes_credentials_and_name() {
        let (url, dialect) = url(&mysql(Some("db.example"), None, "p:w/d%"));
        assert_eq!(
            url,
            "mysql://il%40s:p%3Aw%2Fd%25@db.example:3307/ilias%20db"
        );
        assert_eq!(dialect, Dialect::Mysql);
    }

    #[test]
    fn empty_password_is_left_out() {
        let (url, _) = url(&mysql(Some("127.0.0.1"), None, ""));
        assert_eq!(url, "mysql://il%40s@127.0.0.1:3307/ilias%20db");
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        let (url, _) = url(&mysql(Some("::1"), None, ""));
        assert_eq!(url, "mysql://il%40s@[::1]:3307/ilias%20db");
    }

    #[test]
    fn unix_socket_goes_into_the_query() {
        let (url, _) = url(&mysql(None, Some("/run/mysqld/mysqld.sock"), "x"));
        assert_eq!(
            url,
            "mysql://il%40s:x@localhost/ilias%20db?socket=%2Frun%2Fmysqld%2Fmysqld.sock"
        );
    }

    #[test]
    fn sqlite_creates_the_file() {
        let (url, dialect) = url(&DatabaseConfig::Sqlite {
            path: PathBuf::from("/var/lib/x/chat.db"),
        });
        assert_eq!(url, "sqlite:///var/lib/x/chat.db?mode=rwc");
        assert_eq!(dialect, Dialect::Sqlite);
    }
}
