//! One-line descriptions for `ilias-chat --check` (in the spirit of `nginx -t`).
//! They never contain the database password or the auth secret.

use super::{ClientConfig, DeletionPolicy, Protocol, ServerConfig};

impl ServerConfig {
    /// Path of the socket.io endpoint: `<sub_directory>/socket.io`.
    pub fn socket_io_path(&self) -> String {
        format!("{}/socket.io", self.sub_directory.as_deref().unwrap_or(""))
    }

    /// One line for `--check`, e.g. `server /etc/ilias-chat/server.cfg:
    /// http://127.0.0.1:8585, socket.io at /socket.io, log level info, logging to
    /// journal/stderr, purge off`.
    pub fn summary(&self) -> String {
        format!(
            "server {}: {}, socket.io at {}, log level {}, {}, purge {}",
            self.file.display(),
            self.listen_description(),
            self.socket_io_path(),
            self.log_level,
            self.logging_description(),
            purge_description(self.deletion.as_ref()),
        )
    }

    fn listen_description(&self) -> String {
        // IPv6 literals need brackets in a URL.
        let host = if self.address.contains(':') && !self.address.starts_with('[') {
            format!("[{}]", self.address)
        } else {
            self.address.clone()
        };
        match &self.protocol {
            Protocol::Http => format!("http://{host}:{}", self.port),
            Protocol::Https(tls) => {
                let dhparam = if tls.dhparam.is_some() {
                    ", dhparam ignored"
                } else {
                    ""
                };
                format!(
                    "https://{host}:{} (cert {}, key {}{dhparam})",
                    self.port,
                    tls.cert.display(),
                    tls.key.display()
                )
            }
        }
    }

    fn logging_description(&self) -> String {
        let main = match &self.log {
            Some(path) => format!("logging to {}", path.display()),
            None => "logging to journal/stderr".to_owned(),
        };
        match &self.error_log {
            Some(path) => format!("{main}, errors to {}", path.display()),
            None => main,
        }
    }
}

fn purge_description(policy: Option<&DeletionPolicy>) -> String {
    let Some(policy) = policy else {
        return "off".to_owned();
    };
    let unit = if policy.value == 1 {
        policy.unit.singular()
    } else {
        policy.unit.as_str()
    };
    format!(
        "messages older than {} {unit} daily at {}",
        policy.value, policy.time
    )
}

impl ClientConfig {
    /// One line for `--check`, e.g. `client /x/client.cfg: "onscreen" → namespaces
    /// /onscreen and /onscreen-im, database mysql://ilias@localhost:3306/ilias, ILIAS
    /// version detected from the database`.
    pub fn summary(&self) -> String {
        let version = match self.ilias_version {
            Some(generation) => format!("ILIAS version {generation} (from ilias_version)"),
            None => "ILIAS version detected from the database at start-up (settings ilias_version, else the chat tables)".to_owned(),
        };
        let identity = match self.identity.verify_session {
            super::VerifySession::Off => String::new(),
            mode => format!(
                ", ILIAS sessions verified ({}, cookie {})",
                mode.as_str(),
                self.identity.session_cookie
            ),
        };
        format!(
            "client {}: \"{}\" → namespaces {} and {}, database {}, {version}{identity}",
            self.file.display(),
            self.name,
            self.room_namespace(),
            self.im_namespace(),
            self.database.describe(),
        )
    }
}
