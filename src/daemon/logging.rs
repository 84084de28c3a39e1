//! Log output, chosen once at start-up:
//! - the journal's native protocol when stderr is connected to the journal (systemd
//!   sets `JOURNAL_STREAM` to the device and inode of that stream), with
//!   `SYSLOG_IDENTIFIER=ilias-chat`, syslog priorities and the structured fields of
//!   each record (`CLIENT=`, `USER=`, `ROOM=` …);
//! - otherwise the `log` file of server.cfg (every record) and its `error_log` (errors
//!   only), one line per record: `<RFC 3339 UTC time> <LEVEL> <message> key=value…`;
//!   both are reopened on SIGHUP, so logrotate can move them away;
//! - otherwise stderr.
//!
//! ILIAS's nine `log_level` names map onto tracing's five levels; the level filters
//! every sink and changes on SIGHUP.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogLevel, ServerConfig};

/// The environment variable that overrides the filter (tracing's `EnvFilter` syntax),
/// for debugging a single module.
pub const LOG_ENV: &str = "ILIAS_CHAT_LOG";

/// The identifier of every journal entry (`journalctl -t ilias-chat`).
pub const SYSLOG_IDENTIFIER: &str = "ilias-chat";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot open the log file {file}: {source}")]
    Open {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The tracing level that shows everything the configured ILIAS level asks for.
pub fn tracing_level(level: LogLevel) -> tracing::Level {
    match level {
        LogLevel::Emerg | LogLevel::Alert | LogLevel::Crit | LogLevel::Error => {
            tracing::Level::ERROR
        }
        LogLevel::Warning => tracing::Level::WARN,
        LogLevel::Notice | LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Silly => tracing::Level::TRACE,
    }
}

fn filter_for(level: LogLevel) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_env(LOG_ENV) {
        return filter;
    }
    // Our records follow `log_level`; the libraries underneath only speak up from
    // `warn` on (at `silly`, everything is shown).
    let libraries = if level == LogLevel::Silly {
        "debug"
    } else {
        "warn"
    };
    EnvFilter::new(format!("{libraries},ilias_chat={}", tracing_level(level)))
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=dev:ino`).
pub fn stderr_is_journal() -> bool {
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|value| {
        let (dev, ino) = value.split_once(':')?;
        Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    // `/proc/self/fd/2` follows to the open file description, like fstat(2).
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|meta| meta.dev() == dev && meta.ino() == ino)
}

/// A log file that can be reopened at the same path (after logrotate moved it).
#[derive(Clone)]
pub struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl LogFile {
    fn open(path: &Path) -> Result<LogFile, LoggingError> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(open_append(path)?)),
        })
    }

    fn reopen(&self) -> Result<(), LoggingError> {
        let fresh = open_append(&self.path)?;
        *self.lock() = fresh;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn open_append(path: &Path) -> Result<File, LoggingError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LoggingError::Open {
            file: path.to_path_buf(),
            source,
        })
}

/// Writes one formatted record to a [`LogFile`].
pub struct LogFileWriter<'a>(MutexGuard<'a, File>);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.lock())
    }
}

/// The subscriber below the sinks: the registry with the reloadable level filter.
type Filtered = tracing_subscriber::layer::Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

fn file_layer(file: &LogFile) -> impl Layer<Filtered> + Send + Sync + use<> {
    tracing_subscriber::fmt::layer()
        .with_writer(file.clone())
        .with_ansi(false)
        .with_target(false)
}

/// Where records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Files,
    Stderr,
}

/// The installed logging, kept to change the level and reopen files on SIGHUP.
pub struct Logging {
    sink: Sink,
    filter: reload::Handle<EnvFilter, Registry>,
    files: Vec<LogFile>,
}

impl Logging {
    /// Chooses the sink, opens the files and installs the global subscriber.
    pub fn init(server: &ServerConfig) -> Result<Logging, LoggingError> {
        let journal = stderr_is_journal()
            .then(|| {
                tracing_journald::layer().ok().map(|layer| {
                    layer
                        .with_syslog_identifier(SYSLOG_IDENTIFIER.to_string())
                        .with_field_prefix(None)
                        .with_priority_mappings(PriorityMappings {
                            error: Priority::Error,
                            warn: Priority::Warning,
                            info: Priority::Informational,
                            debug: Priority::Debug,
                            trace: Priority::Debug,
                        })
                })
            })
            .flatten();
        let log = match (&journal, &server.log) {
            (None, Some(path)) => Some(LogFile::open(path)?),
            _ => None,
        };
        let error_log = match (&journal, &server.error_log) {
            (None, Some(path)) => Some(LogFile::open(path)?),
            _ => None,
        };
        let sink = if journal.is_some() {
            Sink::Journal
        } else if log.is_some() || error_log.is_some() {
            Sink::Files
        } else {
            Sink::Stderr
        };
        let (filter, handle) = reload::Layer::new(filter_for(server.log_level));
        let mut sinks: Vec<BoxedLayer> = Vec::new();
        if let Some(journal) = journal {
            sinks.push(Box::new(journal));
        }
        if sink == Sink::Stderr {
            sinks.push(Box::new(
                tracing_subscriber::fmt::layer()
                    .with_writer(io::stderr)
                    .with_ansi(io::stderr().is_terminal())
                    .with_target(false),
            ));
        }
        if let Some(file) = &log {
            sinks.push(file_layer(file).boxed());
        }
        if let Some(file) = &error_log {
            sinks.push(file_layer(file).with_filter(LevelFilter::ERROR).boxed());
        }
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(sinks)
            .try_init();
        if installed.is_err() {
            eprintln!("ilias-chat: a log subscriber was already installed");
        }
        if sink == Sink::Journal && (server.log.is_some() || server.error_log.is_some()) {
            tracing::info!(
                "logging to the journal; the log files named in server.cfg are not used"
            );
        }
        Ok(Logging {
            sink,
            filter: handle,
            files: log.into_iter().chain(error_log).collect(),
        })
    }

    /// Where records go.
    pub fn sink(&self) -> Sink {
        self.sink
    }

    /// SIGHUP: apply a new level and reopen the files (logrotate moved them away).
    pub fn reload(&self, level: LogLevel) {
        if let Err(error) = self.filter.reload(filter_for(level)) {
            tracing::warn!(%error, "cannot change the log level");
        }
        for file in &self.files {
            if let Err(error) = file.reopen() {
                tracing::error!(%error, "cannot reopen a log file; still writing to the old one");
            }
        }
    }
}

/// Logging for the demo and other short-lived uses: stderr at the given level.
pub fn init_stderr(level: LogLevel) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter_for(level))
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
