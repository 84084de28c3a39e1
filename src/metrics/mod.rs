//! Prometheus metrics: one registry for the whole process, small typed functions that
//! the few hook points call (socket dispatcher, emit helpers, backend middleware, write
//! queue, database health, reload), and gauges read from the live state at scrape
//! time. The exposition is served on a listener of its own ([`endpoint`]), off unless
//! server.cfg has a `metrics` section. Every metric is documented in ilias-chat(8).
//!
//! This module is a leaf: it knows no chat feature. What is counted at scrape time is
//! handed in as a [`Snapshot`] by whoever owns the state (the server).

pub mod endpoint;
mod process;
mod registry;

use std::time::Duration;

pub use process::{start_time, uptime};
pub use registry::render;

use registry::{
    BackendLabels, ClientLabels, DatabaseErrorLabels, EventLabels, RefusalLabels, ReloadLabels,
    metrics,
};

/// Which namespace of a client an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// The repository chat rooms, namespace `/<name>`.
    Room,
    /// The on-screen chat, namespace `/<name>-im`.
    Im,
}

impl Feature {
    /// The label value: `room` or `im`.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Room => "room",
            Feature::Im => "im",
        }
    }
}

/// Why an inbound event was not acted on (the kinds of `socket::Refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The arguments do not have the shape the event needs.
    Malformed,
    /// A rule of the chat does not allow it.
    NotAllowed,
}

/// What went wrong with a client's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseError {
    /// Connecting failed (start-up, or a health probe found it unreachable).
    Connect,
    /// A queued write failed for a passing reason and is retried.
    WriteRetried,
    /// The database refused a queued write; it was dropped.
    WriteDropped,
}

impl DatabaseError {
    fn as_str(self) -> &'static str {
        match self {
            DatabaseError::Connect => "connect",
            DatabaseError::WriteRetried => "write_retried",
            DatabaseError::WriteDropped => "write_dropped",
        }
    }
}

/// Gauges of one client, read from its state when the metrics are scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientGauges {
    pub client: String,
    /// Connected sockets in the room namespace and the on-screen chat namespace.
    pub room_sockets: usize,
    pub im_sockets: usize,
    /// Distinct users logged in on each namespace.
    pub room_users: usize,
    pub im_users: usize,
    /// Known chat rooms, and those with at least one user in them.
    pub rooms: usize,
    pub occupied_rooms: usize,
    pub conversations: usize,
    /// Writes waiting in the write queue, and how long the oldest has waited.
    pub write_queue_depth: usize,
    pub write_queue_oldest: Duration,
    /// Whether the last contact with the database worked.
    pub database_up: bool,
}

/// Everything read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub clients: Vec<ClientGauges>,
}

/// An event arrived on a socket (counted before it is parsed).
pub fn event_received(client: &str, feature: Feature, event: &str) {
    metrics()
        .events_received
        .get_or_create(&EventLabels::new(client, feature, event))
        .inc();
}

/// An event was refused (malformed or not allowed).
pub fn event_refused(client: &str, feature: Feature, event: &str, reason: RefusalReason) {
    metrics()
        .events_refused
        .get_or_create(&RefusalLabels::new(client, feature, event, reason))
        .inc();
}

/// `count` sockets were sent an event.
pub fn delivered(client: &str, feature: Feature, event: &str, count: usize) {
    if count == 0 {
        return;
    }
    metrics()
        .deliveries
        .get_or_create(&EventLabels::new(client, feature, event))
        .inc_by(count as u64);
}

/// A backend request (from ILIAS PHP) was answered. `status` is the status PHP reads:
/// the HTTP status, or 403 for the `{"status":403}` answer to wrong credentials.
pub fn backend_request(client: &str, action: &str, status: u16) {
    metrics()
        .backend_requests
        .get_or_create(&BackendLabels {
            client: client.to_string(),
            action: action.to_string(),
            status: status.to_string(),
        })
        .inc();
}

/// Something went wrong with a client's database.
pub fn database_error(client: &str, kind: DatabaseError) {
    metrics()
        .database_errors
        .get_or_create(&DatabaseErrorLabels {
            client: client.to_string(),
            kind: kind.as_str(),
        })
        .inc();
}

/// A client's database answers again after it was unreachable.
pub fn database_reconnected(client: &str) {
    metrics()
        .database_reconnects
        .get_or_create(&ClientLabels::new(client))
        .inc();
}

/// A queued write reached the database, `latency` after it was queued.
pub fn write_completed(client: &str, latency: Duration) {
    metrics()
        .write_duration
        .get_or_create(&ClientLabels::new(client))
        .observe(latency.as_secs_f64());
}

/// A reload (SIGHUP) was applied (`ok`) or refused because of a bad configuration.
pub fn reloaded(ok: bool) {
    metrics()
        .reloads
        .get_or_create(&ReloadLabels {
            result: if ok { "ok" } else { "failed" },
        })
        .inc();
}
