//! Process-level concerns: configuration sources, listening sockets, logging, the
//! service manager, privileges, signals.

pub mod exit;
pub mod fds;
pub mod listen;
pub mod logging;
pub mod notify;
pub mod privileges;
pub mod signals;
pub mod sources;
pub mod state;
pub mod stop;
