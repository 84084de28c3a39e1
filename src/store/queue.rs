//! The ordered write-behind queue of one client. Events are delivered to browsers at
//! once and their rows written afterwards, strictly in order (a row's INSERT and a later
//! UPDATE can never swap, as they could in the original's connection pool). Writes that
//! fail for a passing reason are retried; writes the database refuses are logged and
//! dropped so that one bad row cannot block everything behind it.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::backlog::Backlog;
use super::writes::is_transient;
use super::{Store, Write};
use crate::metrics::{self, DatabaseError};

enum Job {
    Write(Write),
    /// Answered once every job queued before it is done.
    Flush(oneshot::Sender<()>),
}

/// The sending side, owned by the client.
#[derive(Debug, Clone)]
pub struct WriteQueue {
    jobs: mpsc::UnboundedSender<Job>,
    backlog: Backlog,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Write(write) => write.fmt(f),
            Job::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// The receiving side; run it with [`WriteQueueWorker::run`] once the database is
/// connected. Writes queued before that wait in the channel.
#[derive(Debug)]
pub struct WriteQueueWorker {
    jobs: mpsc::UnboundedReceiver<Job>,
    client: String,
    backlog: Backlog,
}

impl WriteQueue {
    /// A queue and its (not yet running) worker.
    pub fn new(client: &str) -> (WriteQueue, WriteQueueWorker) {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Backlog::new(client);
        (
            WriteQueue {
                jobs: tx,
                backlog: backlog.clone(),
            },
            WriteQueueWorker {
                jobs: rx,
                client: client.to_string(),
                backlog,
            },
        )
    }

    /// Queues a write; never waits.
    pub fn push(&self, write: Write) {
        self.backlog.pushed();
        if self.jobs.send(Job::Write(write)).is_err() {
            self.backlog.unpushed();
            tracing::error!("write queue is closed; a database write was lost");
        }
    }

    /// What waits in the queue (depth, age of the oldest write).
    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Waits until everything queued so far is written, at most `timeout`. Returns
    /// whether the queue drained.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(done_tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, done_rx).await, Ok(Ok(())))
    }
}

impl WriteQueueWorker {
    /// Applies writes in order until every sender is gone.
    pub async fn run(mut self, store: Store) {
        while let Some(job) = self.jobs.recv().await {
            match job {
                Job::Write(write) => {
                    self.apply_with_retry(&store, &write).await;
                    self.backlog.done();
                }
                Job::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn apply_with_retry(&self, store: &Store, write: &Write) {
        let mut delay = Duration::from_millis(100);
        loop {
            match write.apply(store).await {
                Ok(()) => return,
                Err(error) if is_transient(&error) => {
                    metrics::database_error(&self.client, DatabaseError::WriteRetried);
                    tracing::warn!(client = self.client, %error, retry_in_ms = delay.as_millis() as u64, "database write failed, retrying: {}", write.describe());
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    metrics::database_error(&self.client, DatabaseError::WriteDropped);
                    tracing::error!(client = self.client, %error, "database refused a write, dropped: {}", write.describe());
                    return;
                }
            }
        }
    }
}
