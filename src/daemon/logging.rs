//! Log output. ILIAS's nine `log_level` names map onto tracing's five levels; each
//! record goes to stderr (which systemd forwards to the journal).

use tracing_subscriber::EnvFilter;

use crate::config::LogLevel;

/// The environment variable that overrides the filter (tracing's `EnvFilter` syntax),
/// for debugging a single module.
pub const LOG_ENV: &str = "ILIAS_CHAT_LOG";

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

/// Installs the global subscriber. Our own records follow `log_level`; the libraries
/// underneath only speak up from `warn` on (at `silly`, everything is shown).
pub fn init(level: LogLevel) {
    let ours = tracing_level(level);
    let libraries = if level == LogLevel::Silly {
        "debug"
    } else {
        "warn"
    };
    let default = format!("{libraries},ilias_chat={ours}");
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(default));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    if installed.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}
