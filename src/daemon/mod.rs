//! Process-level concerns: listening sockets, logging, signals.

pub mod listen;
pub mod logging;
pub mod signals;
