//! ilias-chat: a drop-in, systemd-native replacement for the ILIAS chat server.
//!
//! One process serves, on one port, for every configured ILIAS client: the backend HTTP
//! API that ILIAS PHP calls (`/backend/...`), socket.io for browsers (namespaces
//! `/<name>` for repository chat rooms and `/<name>-im` for the on-screen chat), and
//! persistence into that client's ILIAS database.

pub mod check;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod escape;
pub mod health;
pub mod http;
pub mod identity;
pub mod ids;
pub mod im;
pub mod jobs;
pub mod metrics;
pub mod repeats;
pub mod room;
pub mod server;
pub mod snapshot;
pub mod socket;
pub mod store;
