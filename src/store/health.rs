//! Whether a client's database answers: the probe (`SELECT 1`) and the record of the
//! last contact that the health route, the metrics and `STATUS=` read. While the
//! database is unreachable a warning is logged once a minute, not on every attempt.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Store, StoreError};
use crate::metrics::{self, DatabaseError};

/// How long a probe may take before the database counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the "unreachable" warning is repeated while the database stays away.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The state of a client's database as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// Not tried yet.
    Unknown,
    /// The last contact worked.
    Reachable,
    /// The last contact failed, with this error.
    Unreachable(String),
}

/// What the health route reports about a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub reachability: Reachability,
    /// How long the database has been in that state.
    pub for_time: Duration,
}

#[derive(Debug)]
struct State {
    reachability: Reachability,
    since: Instant,
    last_warning: Option<Instant>,
    /// Whether the database ever answered (the warning then says it went away).
    ever_reachable: bool,
}

/// The health record of one client's database.
#[derive(Debug)]
pub struct DatabaseHealth {
    client: String,
    state: Mutex<State>,
}

impl DatabaseHealth {
    /// A record for `client` whose database has not been tried yet.
    pub fn new(client: &str) -> DatabaseHealth {
        DatabaseHealth {
            client: client.to_string(),
            state: Mutex::new(State {
                reachability: Reachability::Unknown,
                since: Instant::now(),
                last_warning: None,
                ever_reachable: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The database answered. Returns whether that is news (it was unreachable or not
    /// tried), so the caller can refresh `STATUS=`.
    pub fn reachable(&self) -> bool {
        let mut state = self.lock();
        match &state.reachability {
            Reachability::Reachable => return false,
            Reachability::Unreachable(_) => {
                metrics::database_reconnected(&self.client);
                tracing::info!(
                    client = self.client,
                    down_s = state.since.elapsed().as_secs(),
                    "the database of client {} answers again",
                    self.client
                );
            }
            Reachability::Unknown => {}
        }
        state.reachability = Reachability::Reachable;
        state.since = Instant::now();
        state.last_warning = None;
        state.ever_reachable = true;
        true
    }

    /// Contact with the database failed. Logs a warning at once and then once a
    /// minute while it stays unreachable. Returns whether that is news.
    pub fn unreachable(&self, error: &StoreError) -> bool {
        metrics::database_error(&self.client, DatabaseError::Connect);
        let mut state = self.lock();
        let news = !matches!(state.reachability, Reachability::Unreachable(_));
        if news {
            state.since = Instant::now();
        }
        state.reachability = Reachability::Unreachable(error.to_string());
        let due = state
            .last_warning
            .is_none_or(|last| last.elapsed() >= WARN_EVERY);
        if due {
            state.last_warning = Some(Instant::now());
            let down_s = state.since.elapsed().as_secs();
            if state.ever_reachable {
                tracing::warn!(
                    client = self.client,
                    %error,
                    down_s,
                    "the database of client {} is unreachable; nothing can be stored",
                    self.client
                );
            } else {
                tracing::warn!(
                    client = self.client,
                    %error,
                    down_s,
                    "waiting for the database of client {}; nothing can be stored until it answers",
                    self.client
                );
            }
        }
        news
    }

    /// The current state and how long it has lasted.
    pub fn report(&self) -> HealthReport {
        let state = self.lock();
        HealthReport {
            reachability: state.reachability.clone(),
            for_time: state.since.elapsed(),
        }
    }

    /// Whether the last contact worked.
    pub fn is_reachable(&self) -> bool {
        self.lock().reachability == Reachability::Reachable
    }
}

impl Store {
    /// Asks the database for `SELECT 1`, at most [`PROBE_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let probe = sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(self.pool());
        match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(StoreError::Query {
                what: "probing the database",
                source,
            }),
            Err(_) => Err(StoreError::Query {
                what: "probing the database",
                source: sqlx::Error::PoolTimedOut,
            }),
        }
    }
}
