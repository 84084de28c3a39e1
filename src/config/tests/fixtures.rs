//! The ILIAS-style example files in `tests/fixtures/config/` and their summaries.

use std::path::PathBuf;

use super::fixture;
use crate::config::{
    Auth, ClientConfig, DatabaseConfig, DeletionPolicy, DeletionUnit, LogLevel, Protocol,
    ServerConfig, TimeOfDay, TlsFiles, load_client, load_clients, load_server,
};

/// ILIAS 8/9 server.cfg as the setup writes it, purging enabled.
#[test]
fn server_cfg() {
    let path = fixture("server.cfg");
    let config = load_server(&path).unwrap();
    assert_eq!(
        config,
        ServerConfig {
            file: path.clone(),
            address: "127.0.0.1".to_owned(),
            port: 8585,
            protocol: Protocol::Http,
            sub_directory: Some("/servers/chat".to_owned()),
            log: Some(PathBuf::from("/var/www/ilias/data/chat.log")),
            error_log: Some(PathBuf::from("/var/www/ilias/data/chat_errors.log")),
            log_level: LogLevel::Info,
            deletion: Some(DeletionPolicy {
                unit: DeletionUnit::Months,
                value: 3,
                time: TimeOfDay { hour: 3, minute: 0 },
            }),
            edge: crate::config::EdgeLimits::default(),
            metrics: None,
            reconnect_window: std::time::Duration::from_secs(1800),
            userlist_interval: std::time::Duration::from_millis(100),
            write_timeout: std::time::Duration::from_secs(30),
        }
    );
    assert_eq!(
        config.summary(),
        format!(
            "server {}: http://127.0.0.1:8585, socket.io at /servers/chat/socket.io, \
             log level info, logging to /var/www/ilias/data/chat.log, \
             errors to /var/www/ilias/data/chat_errors.log, \
             purge messages older than 3 months daily at 03:00",
            path.display()
        )
    );
}

/// The `"log": 0` variant of the setup, with a string port and stale purge keys.
#[test]
fn server_cfg_log_zero() {
    let path = fixture("server-log0.cfg");
    let config = load_server(&path).unwrap();
    assert_eq!(
        config,
        ServerConfig {
            file: path.clone(),
            address: "chat.example.org".to_owned(),
            port: 8888,
            protocol: Protocol::Http,
            sub_directory: None,
            log: None,
            error_log: None,
            log_level: LogLevel::Info,
            deletion: None,
            edge: crate::config::EdgeLimits::default(),
            metrics: None,
            reconnect_window: std::time::Duration::from_secs(1800),
            userlist_interval: std::time::Duration::from_millis(100),
            write_timeout: std::time::Duration::from_secs(30),
        }
    );
    assert_eq!(
        config.summary(),
        format!(
            "server {}: http://chat.example.org:8888, socket.io at /socket.io, log level info, \
             logging to journal/stderr, purge off",
            path.display()
        )
    );
}

/// https with the fixture certificate; the paths in the file are relative to the crate
/// root, which is the working directory of `cargo test`.
#[test]
fn server_cfg_https() {
    let path = fixture("server-https.cfg");
    let config = load_server(&path).unwrap();
    let tls = |name: &str| PathBuf::from("tests/fixtures/config/tls").join(name);
    assert_eq!(
        config,
        ServerConfig {
            file: path.clone(),
            address: "chat.example.org".to_owned(),
            port: 8443,
            protocol: Protocol::Https(TlsFiles {
                cert: tls("chat.example.org.pem"),
                key: tls("chat.example.org.key"),
                dhparam: Some(tls("dhparam.pem")),
            }),
            sub_directory: None,
            log: None,
            error_log: None,
            log_level: LogLevel::Warning,
            deletion: Some(DeletionPolicy {
                unit: DeletionUnit::Days,
                value: 30,
                time: TimeOfDay {
                    hour: 4,
                    minute: 15
                },
            }),
            edge: crate::config::EdgeLimits::default(),
            metrics: None,
            reconnect_window: std::time::Duration::from_secs(1800),
            userlist_interval: std::time::Duration::from_millis(100),
            write_timeout: std::time::Duration::from_secs(30),
        }
    );
    assert_eq!(
        config.summary(),
        format!(
            "server {}: https://chat.example.org:8443 (cert tests/fixtures/config/tls/chat.example.org.pem, \
             key tests/fixtures/config/tls/chat.example.org.key, dhparam ignored), \
             socket.io at /socket.io, log level warning, logging to journal/stderr, \
             purge messages older than 30 days daily at 04:15",
            path.display()
        )
    );
}

/// client.cfg as the ILIAS admin GUI writes it, with feature toggles the server ignores.
#[test]
fn client_cfg() {
    let path = fixture("client.cfg");
    let config = load_client(&path).unwrap();
    assert_eq!(
        config,
        ClientConfig {
            file: path.clone(),
            name: "onscreen".to_owned(),
            auth: Auth {
                key: "5f0c6d2e-8a41-4c7b-9e13-2b7d0a9c4e11".to_owned(),
                secret: "c3a9e7f2-16d4-4b8e-a5f0-7e2d91b06c38".to_owned(),
            },
            database: DatabaseConfig::Mysql {
                host: Some("localhost".to_owned()),
                port: 3306,
                socket: None,
                name: "ilias".to_owned(),
                user: "ilias".to_owned(),
                pass: "Zw8#kq!3/p".to_owned(),
            },
            ilias_version: None,
            identity: Default::default(),
        }
    );
    assert_eq!(
        config.summary(),
        format!(
            "client {}: \"onscreen\" → namespaces /onscreen and /onscreen-im, \
             database mysql://ilias@localhost:3306/ilias, ILIAS version detected from the database at start-up \
             (settings ilias_version, else the chat tables)",
            path.display()
        )
    );
}

/// A second client: InnoDB type name, unix socket host, `"port": 0`, empty password.
#[test]
fn client_second_cfg() {
    let path = fixture("client-second.cfg");
    let config = load_client(&path).unwrap();
    assert_eq!(config.name, "campus");
    assert_eq!(
        config.database,
        DatabaseConfig::Mysql {
            host: None,
            port: 3306,
            socket: Some(PathBuf::from("/run/mysqld/mysqld.sock")),
            name: "ilias_campus".to_owned(),
            user: "ilias_campus".to_owned(),
            pass: String::new(),
        }
    );
    assert_eq!(
        config.summary(),
        format!(
            "client {}: \"campus\" → namespaces /campus and /campus-im, \
             database mysql://ilias_campus@unix:/run/mysqld/mysqld.sock/ilias_campus, \
             ILIAS version detected from the database at start-up \
             (settings ilias_version, else the chat tables)",
            path.display()
        )
    );
}

#[test]
fn both_clients_together() {
    let clients = load_clients(&[fixture("client.cfg"), fixture("client-second.cfg")]).unwrap();
    let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["onscreen", "campus"]);
}

/// The fixtures really look like PHP output (`\/` escapes, 4-space indentation).
#[test]
fn fixtures_are_php_style() {
    for name in [
        "server.cfg",
        "server-log0.cfg",
        "server-https.cfg",
        "client.cfg",
        "client-second.cfg",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        assert!(text.starts_with("{\n    \""), "{name}");
        if name != "server-log0.cfg" {
            assert!(text.contains("\\/"), "{name} has no escaped slash");
        }
    }
}

#[test]
fn invalid_fixtures() {
    let path = fixture("invalid/client-bad-port.cfg");
    assert_eq!(
        load_client(&path).unwrap_err().to_string(),
        format!("{}: database.port: \"80a\" is not a number", path.display())
    );
    let duplicate = fixture("invalid/client-duplicate-name.cfg");
    assert_eq!(
        load_clients(&[fixture("client.cfg"), duplicate.clone()])
            .unwrap_err()
            .to_string(),
        format!(
            "{}: name: \"onscreen\" is already used by {}",
            duplicate.display(),
            fixture("client.cfg").display()
        )
    );
    let path = fixture("invalid/server-syntax.cfg");
    assert_eq!(
        load_server(&path).unwrap_err().to_string(),
        format!(
            "{}: not valid JSON: expected `,` or `}}` at line 5 column 5",
            path.display()
        )
    );
}
