//! SIGHUP: re-read server.cfg and every client config, and apply what changed —
//! clients added, removed or rebuilt, a changed secret swapped in place, the log level
//! and certificates renewed — while unchanged clients keep their connections.

use crate::config::{self, ClientConfig, Protocol, ServerConfig};
use crate::daemon::logging::Logging;
use crate::daemon::sources::ConfigSources;
use crate::http::{self, SharedTls};

use super::Server;

/// What SIGHUP re-reads and re-applies.
pub struct Reloader {
    pub sources: ConfigSources,
    pub logging: Option<Logging>,
}

impl Server {
    /// SIGHUP: re-reads server.cfg and every client config. Nothing changes unless
    /// all of them are valid. Returns the new `STATUS=` text.
    pub(super) async fn reload(&self, reloader: &Reloader, tls: Option<&SharedTls>) -> String {
        let loaded = config::load_server(&reloader.sources.server)
            .map_err(|e| e.to_string())
            .and_then(|server| {
                let files = reloader.sources.client_files().map_err(|e| e.to_string())?;
                let clients = config::load_clients(&files).map_err(|e| e.to_string())?;
                Ok((server, clients))
            });
        let (server, clients) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!("reload failed, configuration unchanged: {error}");
                crate::metrics::reloaded(false);
                return format!("reload failed: {error}; {}", self.status_line());
            }
        };
        crate::socket::deadline::set_login_timeout(server.edge.login_timeout);
        self.edge.set_limits(server.edge);
        self.warn_about_restart(&server);
        crate::room::set_reconnect_window(server.reconnect_window);
        crate::room::set_userlist_interval(server.userlist_interval);
        crate::http::stream::set_write_timeout(server.write_timeout);
        if let Some(logging) = &reloader.logging {
            logging.reload(server.log_level);
        }
        if let (Some(shared), Protocol::Https(files)) = (tls, &server.protocol) {
            match http::tls::load(files) {
                Ok(acceptor) => *shared.write().unwrap_or_else(|p| p.into_inner()) = acceptor,
                Err(error) => {
                    tracing::error!(%error, "certificates not reloaded; keeping the old ones")
                }
            }
        }
        self.apply_clients(clients).await;
        tracing::info!("configuration reloaded");
        crate::metrics::reloaded(true);
        format!("reloaded: {}", self.status_line())
    }

    /// Adds new clients, removes gone ones, applies changes; unchanged clients keep
    /// their connections. A changed secret is swapped in place; a changed database or
    /// ILIAS version rebuilds that client.
    async fn apply_clients(&self, configs: Vec<ClientConfig>) {
        let wanted: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        for client in self.clients.all() {
            if !wanted.iter().any(|name| name == client.name()) {
                self.remove_client(client.name()).await;
            }
        }
        for config in configs {
            let Some(current) = self.clients.get(&config.name).map(|c| c.client) else {
                tracing::info!(client = config.name, "client added");
                self.add_client(config, true);
                continue;
            };
            let same_except_auth = ClientConfig {
                auth: current.config.auth.clone(),
                file: current.config.file.clone(),
                ..config.clone()
            } == current.config;
            if same_except_auth {
                if current.auth() != config.auth {
                    tracing::info!(client = config.name, "backend credentials changed");
                    current.set_auth(config.auth);
                }
            } else {
                tracing::info!(
                    client = config.name,
                    "database or ILIAS version changed; restarting the client"
                );
                self.remove_client(&config.name).await;
                self.add_client(config, true);
            }
        }
    }

    /// Settings that only take effect at start-up.
    fn warn_about_restart(&self, new: &ServerConfig) {
        let old = &self.config;
        let changes = [
            ("address", old.address != new.address),
            ("port", old.port != new.port),
            (
                "protocol",
                std::mem::discriminant(&old.protocol) != std::mem::discriminant(&new.protocol),
            ),
            ("sub_directory", old.sub_directory != new.sub_directory),
            (
                "log/error_log",
                old.log != new.log || old.error_log != new.error_log,
            ),
            ("deletion settings", old.deletion != new.deletion),
        ];
        for (key, changed) in changes {
            if changed {
                tracing::warn!("server.cfg: {key} changed; restart the service to apply it");
            }
        }
    }
}
