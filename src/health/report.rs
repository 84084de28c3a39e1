//! The JSON of `/backend/Status/<name>`: what an ILIAS administrator or a monitoring
//! system needs to tell whether one client's chat works.

use serde::{Deserialize, Serialize};

/// The status of one client, as the route answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientStatus {
    /// 200 when healthy, 503 when not (the HTTP status is the same).
    pub status: u16,
    pub healthy: bool,
    /// What is wrong, one sentence each; empty when healthy.
    pub problems: Vec<String>,
    pub client: String,
    /// Version of the running ilias-chat.
    pub version: String,
    pub uptime_seconds: u64,
    pub database: DatabaseStatus,
    pub ilias: IliasStatus,
    pub write_queue: QueueStatus,
    /// Connected sockets per namespace.
    pub sockets: PerFeature,
    /// Distinct logged-in users per namespace.
    pub users: PerFeature,
    /// What the server holds for browsers that are connected now (absent from servers
    /// before 0.1.1: zeros).
    #[serde(default)]
    pub resources: Resources,
}

/// What the server holds per connected browser. Every count but `departed_users` falls
/// back to zero once the browsers are gone and their grace periods have ended
/// (`tests/js/connection-resources.test.mjs`); `departed_users` empties when the
/// reconnect window ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Socket → user entries of the room and on-screen chat models.
    pub socket_entries: PerFeature,
    /// Sockets listed under their users (a user's tabs) in each model.
    pub user_sockets: PerFeature,
    /// Users whose last room socket closed, waiting out the grace period.
    pub grace_timers: usize,
    /// Room sockets the replay of missed messages follows, and away marks of users
    /// on their way back (kept at most the grace period).
    pub replay_sockets: usize,
    pub replay_marks: usize,
    /// Users whose grace period ended who may still come back (reconnect window).
    pub departed_users: usize,
    /// Process-wide: sockets whose event queue is open, i.e. has not handled the
    /// socket's disconnect yet (see `socket::queue`).
    pub event_queues: usize,
    /// Process-wide: tasks alive in the runtime.
    pub tasks: usize,
}

/// The client's database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    /// Whether the last contact (at most a few seconds ago) worked.
    pub reachable: bool,
    /// `connected`, `unreachable` or `connecting` (not tried yet).
    pub state: String,
    /// How long it has been in that state.
    pub state_seconds: u64,
    /// The last error while unreachable.
    pub error: Option<String>,
    /// The database without password, e.g. `mysql://ilias@localhost:3306/ilias`.
    pub target: String,
    /// How it is reached, e.g. `unix socket /run/mysqld/mysqld.sock` or `TCP db:3306`.
    pub route: String,
}

/// The ILIAS release line the client is served as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IliasStatus {
    /// `8`, `9` or `10`.
    pub generation: String,
    /// `configured` (`ilias_version` in client.cfg), `detected` (from the database
    /// schema) or `assumed` (the database has not answered yet).
    pub source: String,
}

/// The ordered write queue of the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStatus {
    pub depth: usize,
    pub oldest_seconds: f64,
}

/// One number per namespace: chat rooms and on-screen chat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerFeature {
    pub room: usize,
    pub im: usize,
}
