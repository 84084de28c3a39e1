//! What waits in a client's write queue: when each waiting write was queued, so that
//! the depth and the age of the oldest can be read (health route, metrics) and the
//! time each write took until the database acknowledged it can be measured.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::metrics;

/// The queueing times of the writes not yet done, oldest first. Cheap to clone; every
/// clone sees the same queue.
#[derive(Debug, Clone)]
pub struct Backlog {
    client: Arc<str>,
    queued: Arc<Mutex<VecDeque<Instant>>>,
}

impl Backlog {
    pub(super) fn new(client: &str) -> Backlog {
        Backlog {
            client: client.into(),
            queued: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Instant>> {
        self.queued
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A write was queued.
    pub(super) fn pushed(&self) {
        self.lock().push_back(Instant::now());
    }

    /// The write just queued could not be queued after all.
    pub(super) fn unpushed(&self) {
        self.lock().pop_back();
    }

    /// The oldest write is done (written, or given up): its latency goes to the metrics.
    pub(super) fn done(&self) {
        if let Some(queued) = self.lock().pop_front() {
            metrics::write_completed(&self.client, queued.elapsed());
        }
    }

    /// Writes waiting (including the one being written).
    pub fn depth(&self) -> usize {
        self.lock().len()
    }

    /// How long the oldest waiting write has waited; zero when none waits.
    pub fn oldest_age(&self) -> Duration {
        self.lock()
            .front()
            .map(Instant::elapsed)
            .unwrap_or_default()
    }
}
