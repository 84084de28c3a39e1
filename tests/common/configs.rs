//! The configuration files ILIAS writes for the chat server: server.cfg from the setup,
//! client.cfg from the administration GUI.

use serde_json::{Value, json};

use super::db::TestDb;
use super::process::free_port;

/// A server.cfg as the ILIAS setup writes it: every key present, http on 127.0.0.1,
/// `log_level` debug, no log files, no purge. Change keys on the returned value.
pub fn server_cfg(port: u16) -> Value {
    json!({
        "address": "127.0.0.1",
        "port": port,
        "sub_directory": "",
        "protocol": "http",
        "cert": "",
        "key": "",
        "dhparam": "",
        "log": "",
        "log_level": "debug",
        "error_log": "",
        "deletion_mode": 0,
        "deletion_unit": "",
        "deletion_value": 0,
        "deletion_time": ""
    })
}

/// A client.cfg as the ILIAS admin GUI writes it (form keys + `auth` + `database`).
pub fn client_cfg(name: &str, key: &str, secret: &str, db: &TestDb) -> Value {
    json!({
        "name": name,
        "enable_osc": true,
        "enable_browser_notifications": false,
        "conversation_idle_state_in_minutes": 1,
        "chat_enabled": true,
        "enable_smilies": false,
        "auth": { "key": key, "secret": secret },
        "database": db.client_cfg_database(),
    })
}

/// A client.cfg whose database never answers (a free port on loopback).
pub fn unreachable_client(name: &str, key: &str, secret: &str) -> Value {
    json!({
        "name": name,
        "auth": {"key": key, "secret": secret},
        "database": {"type": "mysql", "host": "127.0.0.1", "port": free_port(),
                     "name": "ilias", "user": "ilias", "pass": "x"},
    })
}
