//! `ilias-chat --check [--connect]`: every configuration file is read and checked, and
//! every problem reported (not only the first). As root it also checks that the
//! service user can read what the service reads, and it warns about client files that
//! every user of the host can read. `--connect` also connects to every client's
//! database (as the service user, as the service would), detects the ILIAS
//! generation and checks that the chat tables and columns the server uses exist.
//!
//! Exit status: 0 when nothing is wrong (warnings allowed), 78 when a file is missing,
//! unreadable or invalid, 69 when a database cannot be reached or lacks chat tables.

mod database;
mod files;

use std::io::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{self, ClientConfig, Protocol, ServerConfig};
use crate::daemon::exit::ExitStatus;
use crate::daemon::privileges;
use crate::daemon::sources::ConfigSources;

/// What `--check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub sources: ConfigSources,
    /// The service user (`--user`): whose readability and database login count.
    pub user: String,
    /// Also connect to every database.
    pub connect: bool,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Severity {
    Ok,
    Warning,
    /// A configuration file is missing, unreadable or invalid (exit 78).
    ConfigError,
    /// A database cannot be reached or lacks chat tables (exit 69).
    DatabaseError,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub text: String,
}

impl Finding {
    pub(crate) fn ok(text: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Ok,
            text: text.into(),
        }
    }

    pub(crate) fn warning(text: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            text: text.into(),
        }
    }

    pub(crate) fn config_error(text: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::ConfigError,
            text: text.into(),
        }
    }

    pub(crate) fn database_error(text: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::DatabaseError,
            text: text.into(),
        }
    }

    /// Prints the finding: what is fine on stdout (one summary line per file, as
    /// `nginx -t` does), problems on stderr as `ilias-chat: [warning: ]TEXT`.
    fn print(&self) {
        match self.severity {
            Severity::Ok => println!("{}", self.text),
            Severity::Warning => eprintln!("ilias-chat: warning: {}", self.text),
            Severity::ConfigError | Severity::DatabaseError => {
                eprintln!("ilias-chat: {}", self.text)
            }
        }
    }
}

/// Prints findings as they come and remembers the worst.
#[derive(Debug, Default)]
struct Report {
    config_errors: usize,
    database_errors: usize,
}

impl Report {
    fn add(&mut self, finding: Finding) {
        match finding.severity {
            Severity::Ok | Severity::Warning => {}
            Severity::ConfigError => self.config_errors += 1,
            Severity::DatabaseError => self.database_errors += 1,
        }
        finding.print();
    }

    fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for finding in findings {
            self.add(finding);
        }
    }

    fn status(&self) -> ExitStatus {
        if self.config_errors > 0 {
            ExitStatus::Config
        } else if self.database_errors > 0 {
            ExitStatus::Unavailable
        } else {
            ExitStatus::Success
        }
    }
}

/// Runs the check, printing one line per finding; returns the exit status. Must run before any thread is started (it may fork).
pub fn run(options: &CheckOptions) -> ExitStatus {
    let mut report = Report::default();
    let server = match config::load_server(&options.sources.server) {
        Ok(server) => {
            report.add(Finding::ok(server.summary()));
            Some(server)
        }
        Err(error) => {
            report.add(Finding::config_error(error.to_string()));
            None
        }
    };
    let files = match options.sources.client_files() {
        Ok(files) => files,
        Err(error) => {
            report.add(Finding::config_error(error.to_string()));
            Vec::new()
        }
    };
    let mut clients: Vec<ClientConfig> = Vec::new();
    for file in &files {
        match config::load_client(file) {
            Ok(client) => {
                report.add(Finding::ok(client.summary()));
                clients.push(client);
            }
            Err(error) => report.add(Finding::config_error(error.to_string())),
        }
    }
    report.extend(
        config::clashes(&clients)
            .into_iter()
            .map(|e| Finding::config_error(e.to_string())),
    );
    report.extend(files::exposed_secrets(&files, server.as_ref()));

    // Not root: the files were just read by whoever runs this, and the databases are
    // reached as that user.
    let as_user = privileges::is_root() && options.user != "root";
    let user_exists = matches!(nix::unistd::User::from_name(&options.user), Ok(Some(_)));
    if as_user && !user_exists {
        report.add(Finding::warning(format!(
            "user {} does not exist: what it can read was not checked (started as root, \
             the server would exit 77; name the service user with --user)",
            options.user
        )));
    }
    let databases = if options.connect { clients } else { Vec::new() };
    if as_user && user_exists {
        let readable = service_reads(&options.sources, &files, server.as_ref());
        // Flushed before the fork, or the child would print the parent's buffer again.
        let _ = std::io::stdout().flush();
        report.extend(files::as_service_user(&options.user, &readable, &databases));
    } else {
        report.extend(database::check_all(&databases));
    }
    let _ = std::io::stdout().flush();
    report.status()
}

/// What the service reads as the service user (on every reload too): server.cfg, the
/// client files and the directories they are listed from, the TLS files.
fn service_reads(
    sources: &ConfigSources,
    files: &[PathBuf],
    server: Option<&ServerConfig>,
) -> Vec<PathBuf> {
    let mut paths = vec![sources.server.clone()];
    paths.extend(sources.clients.iter().filter(|p| p.is_dir()).cloned());
    paths.extend(files.iter().cloned());
    if let Some(ServerConfig {
        protocol: Protocol::Https(tls),
        ..
    }) = server
    {
        paths.push(tls.cert.clone());
        paths.push(tls.key.clone());
    }
    paths
}
