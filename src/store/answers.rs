//! Whether a client's database answers its calls: set by every bounded call (writes and reads),
//! shown in `STATUS=` and used so that reads browsers wait for fail fast during an
//! outage instead of each waiting for its own timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// After a failure, reads give up at once for this long; then one tries again.
const FAIL_FAST_FOR: Duration = Duration::from_secs(5);

/// What is known about the database's answers.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Since when calls fail (wall clock for people, monotonic for arithmetic).
    failing_since: Option<(SystemTime, Instant)>,
    last_failure: Option<Instant>,
    last_error: String,
}

/// A copy of the database state for status lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// The last call worked.
    Answering,
    /// Calls fail since then, the last one with this error.
    Failing {
        since: SystemTime,
        for_: Duration,
        error: String,
    },
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A call worked. Returns how long the database had been failing, if it had.
    pub fn answered(&self) -> Option<Duration> {
        let mut state = self.lock();
        state.last_failure = None;
        state.failing_since.take().map(|(_, since)| since.elapsed())
    }

    /// A call failed for a passing reason. Returns whether this starts an outage.
    pub fn failed(&self, error: &str) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        state.last_failure = Some(now);
        state.last_error = error.to_string();
        if state.failing_since.is_none() {
            state.failing_since = Some((SystemTime::now(), now));
            true
        } else {
            false
        }
    }

    /// Whether a read should not even try (a call failed moments ago).
    pub fn fail_fast(&self) -> bool {
        self.lock()
            .last_failure
            .is_some_and(|at| at.elapsed() < FAIL_FAST_FOR)
    }

    /// How long calls have been failing, if they are.
    pub fn failing_for(&self) -> Option<Duration> {
        self.lock().failing_since.map(|(_, since)| since.elapsed())
    }

    /// The state for status lines.
    pub fn state(&self) -> DatabaseState {
        let state = self.lock();
        match state.failing_since {
            None => DatabaseState::Answering,
            Some((since, started)) => DatabaseState::Failing {
                since,
                for_: started.elapsed(),
                error: state.last_error.clone(),
            },
        }
    }
}
