//! How `ilias-chat` ends when it cannot start: the exit statuses (from BSD's
//! sysexits.h, documented in ilias-chat(8); 2 is clap's usage error) and the error
//! every start-up step fails with, which carries its status.

use std::fmt::Display;
use std::process::ExitCode;

/// An exit status of `ilias-chat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything went as asked (`--check`, `--health` without findings).
    Success,
    /// Anything else (the runtime could not start, serving failed).
    Failure,
    /// `EX_UNAVAILABLE`: `--check --connect` found a database unreachable or without
    /// the chat tables; `--health` found a client unhealthy or the server not answering.
    Unavailable,
    /// `EX_OSERR`: the listening sockets cannot be taken or bound.
    CannotListen,
    /// `EX_CANTCREAT`: a log file cannot be opened.
    CannotOpenLog,
    /// `EX_NOPERM`: started as root, the service user cannot be switched to.
    CannotDropPrivileges,
    /// `EX_CONFIG`: a configuration file is missing, unreadable or invalid.
    Config,
}

impl ExitStatus {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Unavailable => 69,
            ExitStatus::CannotListen => 71,
            ExitStatus::CannotOpenLog => 73,
            ExitStatus::CannotDropPrivileges => 77,
            ExitStatus::Config => 78,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// A start-up step that failed: the message for stderr and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StartupError {
    pub status: ExitStatus,
    pub message: String,
}

impl StartupError {
    /// A failure with this status, saying `message`.
    pub fn new(status: ExitStatus, message: impl Display) -> StartupError {
        StartupError {
            status,
            message: message.to_string(),
        }
    }

    /// Wraps an error as a failure with this status (for `map_err`).
    pub fn with<E: Display>(status: ExitStatus) -> impl FnOnce(E) -> StartupError {
        move |error| StartupError::new(status, error)
    }
}
