//! The write-behind queue of one client. Events are delivered to browsers at once and
//! their rows written afterwards, in order, in batches: the worker takes everything
//! queued (up to [`MAX_BATCH_ROWS`] / [`MAX_BATCH_BYTES`]) and writes it in one
//! transaction ([`batch`](super::batch)).
//!
//! Nothing queued is lost while the process lives, and nothing journaled is lost when it
//! dies: writes wait in memory up to [`MEMORY_BOUND`]; beyond that, or once the database
//! has not answered for [`SPILL_AFTER`], or at shutdown when the database cannot take
//! them in time, everything waiting moves to the client's on-disk [`Journal`] and new
//! writes are appended there until the journal is drained. The order is always "journal,
//! then memory"; a journal left by a previous run is replayed before anything new.
//!
//! A batch is retried until it is written: ids from ILIAS sequences are drawn once,
//! before the first attempt, and kept with the rows (in memory, in the journal or in its
//! position file), and every statement keeps a row that is there already, so a retry
//! after an ambiguous failure (a lost COMMIT answer, a timeout) never writes a row
//! twice. A batch the database refuses for good is retried row by row; a row refused for
//! good is logged and moved to the dead-letter file, and everything behind it goes on.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use super::answers::{DatabaseState, Health};
use super::batch::{self, Item};
use super::journal::{self, Journal};
use super::sequence::{self, Allocation, Sequence};
use super::writes::is_permanent;
use super::{Store, StoreError, Write};
use crate::clock::now_ms;
use crate::metrics::{self, DatabaseError};

/// Bytes of writes kept in memory before they go to the journal.
pub const MEMORY_BOUND: usize = 16 << 20;
/// How long the database may fail before waiting writes go to the journal.
pub const SPILL_AFTER: Duration = Duration::from_secs(2);
/// Most writes in one transaction.
pub const MAX_BATCH_ROWS: usize = 2000;
/// Most bytes of writes in one transaction (a larger single write goes alone).
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// How long one attempt at a batch (connection, ids, statements, COMMIT) may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The same for the daily purge, which may delete many rows.
pub const PURGE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the journal is synced to disk.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// The oldest waiting write older than this is logged (once, until caught up).
const BEHIND_WARNING: Duration = Duration::from_secs(5);
/// While the database fails, the backlog is logged this often.
const FAILING_REMINDER: Duration = Duration::from_secs(30);
/// Retries wait from 100 ms, doubling, up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A queued write.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    /// The sequence id drawn for it before its first attempt.
    id: Option<i64>,
    write: Write,
    queued_ms: i64,
}

/// How a write is kept in the journal.
#[derive(Serialize)]
struct JournaledRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    write: &'a Write,
}

#[derive(Deserialize)]
struct Journaled {
    #[serde(default)]
    id: Option<i64>,
    write: Write,
}

#[derive(Debug)]
struct Spool {
    next_seq: u64,
    /// Writes after the journal's, oldest first.
    memory: VecDeque<Entry>,
    memory_bytes: usize,
    journal: Option<Journal>,
    dir: Option<PathBuf>,
    closed: bool,
    /// Since when the database has not answered (or has not been connected yet).
    unavailable_since: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    client: String,
    spool: Mutex<Spool>,
    wake: Notify,
    /// The highest sequence number written (or dead-lettered).
    written: watch::Sender<u64>,
    /// Transactions committed so far.
    transactions: AtomicU64,
    health: OnceLock<Arc<Health>>,
}

/// The sending side, owned by the client.
#[derive(Debug, Clone)]
pub struct WriteQueue {
    shared: Arc<Shared>,
}

/// The writing side; run it with [`WriteQueueWorker::run`] once the database is
/// connected. Until then writes wait (and go to the journal after [`SPILL_AFTER`]).
#[derive(Debug)]
pub struct WriteQueueWorker {
    shared: Arc<Shared>,
}

/// What `STATUS=` and the log say about a client's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    /// Writes not yet in the database.
    pub pending: usize,
    /// Age of the oldest of them.
    pub oldest: Option<Duration>,
    /// Size of the journal file (0 without one).
    pub journal_bytes: u64,
    /// `None` until the database was connected once.
    pub database: Option<DatabaseState>,
    /// Transactions (batches) committed since the start.
    pub transactions: u64,
}

impl QueueStatus {
    /// A short text for `STATUS=`: the database state and, when writes wait, how many,
    /// how old the oldest is and how big the journal.
    pub fn summary(&self) -> String {
        let mut text = match &self.database {
            None => "waiting for database".to_string(),
            Some(DatabaseState::Answering) => "database connected".to_string(),
            Some(DatabaseState::Failing { since, for_, .. }) => format!(
                "database writes failing since {} ({} s)",
                chrono::DateTime::<chrono::Local>::from(*since).format("%H:%M:%S"),
                for_.as_secs()
            ),
        };
        if self.pending > 0 {
            text.push_str(&format!(", {} writes pending", self.pending));
            if let Some(oldest) = self.oldest
                && oldest >= Duration::from_secs(1)
            {
                text.push_str(&format!(" (oldest {} s)", oldest.as_secs()));
            }
        }
        if self.journal_bytes > 0 {
            text.push_str(&format!(", journal {}", human_bytes(self.journal_bytes)));
        }
        text
    }
}

fn human_bytes(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / f64::from(1u32 << 20))
    } else {
        format!("{} kB", bytes.div_ceil(1024))
    }
}

fn lock(spool: &Mutex<Spool>) -> MutexGuard<'_, Spool> {
    spool
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WriteQueue {
    /// A queue and its (not yet running) worker. With a journal directory, writes that
    /// wait too long survive in it, and what a previous run left there is queued first.
    pub fn new(client: &str, journal_dir: Option<PathBuf>) -> (WriteQueue, WriteQueueWorker) {
        let mut spool = Spool {
            next_seq: 1,
            memory: VecDeque::new(),
            memory_bytes: 0,
            journal: None,
            dir: journal_dir.clone(),
            closed: false,
            unavailable_since: Some(Instant::now()),
        };
        if let Some(dir) = &journal_dir {
            match Journal::open_existing(dir) {
                Ok(Some((journal, max_seq))) => {
                    tracing::info!(
                        client,
                        writes = journal.pending(),
                        bytes = journal.bytes(),
                        "the write journal of the last run is written first"
                    );
                    spool.next_seq = max_seq + 1;
                    spool.journal = Some(journal);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(client, dir = %dir.display(), %error, "cannot read the write journal; it stays on disk untouched and new writes are kept in memory");
                    spool.dir = None;
                }
            }
        } else {
            tracing::warn!(
                client,
                "no write journal: writes waiting for the database are lost if the process ends"
            );
        }
        let first = spool.next_seq;
        let shared = Arc::new(Shared {
            client: client.to_string(),
            spool: Mutex::new(spool),
            wake: Notify::new(),
            written: watch::Sender::new(first - 1),
            transactions: AtomicU64::new(0),
            health: OnceLock::new(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(housekeeping(Arc::downgrade(&shared)));
        }
        (
            WriteQueue {
                shared: shared.clone(),
            },
            WriteQueueWorker { shared },
        )
    }

    /// Queues a write; never waits for the database.
    pub fn push(&self, write: Write) {
        let shared = &self.shared;
        {
            let mut spool = lock(&shared.spool);
            if spool.closed {
                tracing::error!(
                    client = shared.client,
                    "write queue is closed; a database write was lost: {}",
                    write.describe()
                );
                return;
            }
            let entry = Entry {
                seq: spool.next_seq,
                id: None,
                queued_ms: now_ms(),
                write,
            };
            spool.next_seq += 1;
            if spool.journal.is_none()
                && let Some(reason) = spool.spill_reason(entry.write.approx_bytes())
            {
                spool.spill(&shared.client, reason);
            }
            spool.add(&shared.client, entry);
        }
        shared.wake.notify_one();
    }

    /// Waits until everything queued so far is written, at most `timeout`; at once
    /// `false` while the database is failing. Returns whether the queue drained.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = lock(&self.shared.spool).next_seq - 1;
        let mut written = self.shared.written.subscribe();
        if *written.borrow() >= target {
            return true;
        }
        if self
            .shared
            .health
            .get()
            .is_some_and(|health| health.failing_for().is_some())
        {
            return false;
        }
        matches!(
            tokio::time::timeout(timeout, written.wait_for(|w| *w >= target)).await,
            Ok(Ok(_))
        )
    }

    /// Shutdown (or removal of the client): waits up to `timeout` for the database to
    /// take what is queued, then moves whatever is left into the journal (synced) and
    /// closes the queue. Returns how many writes were left for the next start.
    pub async fn close(&self, timeout: Duration) -> usize {
        let drained = self.flush(timeout).await;
        let shared = &self.shared;
        let left = {
            let mut spool = lock(&shared.spool);
            if !drained && !spool.memory.is_empty() {
                spool.spill(&shared.client, "the server stops");
            }
            let left = spool.pending();
            let lost = spool.memory.len();
            if let Some(mut journal) = spool.journal.take()
                && let Err(error) = journal.sync()
            {
                tracing::error!(client = shared.client, %error, "cannot sync the write journal");
            }
            if lost > 0 {
                tracing::error!(
                    client = shared.client,
                    writes = lost,
                    "database writes could not be written nor journaled and are lost"
                );
            }
            spool.memory.clear();
            spool.memory_bytes = 0;
            spool.closed = true;
            left
        };
        shared.wake.notify_one();
        left
    }

    /// Depth, age, journal size and database state.
    pub fn status(&self) -> QueueStatus {
        self.shared.status()
    }
}

impl Shared {
    fn status(&self) -> QueueStatus {
        let spool = lock(&self.spool);
        let oldest_ms = spool
            .journal
            .as_ref()
            .and_then(Journal::oldest_queued_ms)
            .or_else(|| spool.memory.front().map(|e| e.queued_ms));
        QueueStatus {
            pending: spool.pending(),
            oldest: oldest_ms.map(|ms| Duration::from_millis(now_ms().saturating_sub(ms) as u64)),
            journal_bytes: spool.journal.as_ref().map_or(0, Journal::bytes),
            database: self.health.get().map(|health| health.state()),
            transactions: self.transactions.load(Ordering::Relaxed),
        }
    }

    /// The next writes to attempt, or `None` when nothing waits.
    fn next_batch(&self) -> Option<Vec<Entry>> {
        let mut spool = lock(&self.spool);
        if spool.closed {
            return None;
        }
        while let Some(journal) = spool.journal.as_ref().filter(|j| j.pending() > 0) {
            let records = match journal.read_front(MAX_BATCH_ROWS, MAX_BATCH_BYTES as u64) {
                Ok(records) => records,
                Err(error) => {
                    tracing::error!(client = self.client, %error, "cannot read the write journal");
                    return None;
                }
            };
            let mut entries = Vec::with_capacity(records.len());
            let mut unreadable = None;
            for record in records {
                match serde_json::from_slice::<Journaled>(&record.payload) {
                    Ok(journaled) => entries.push(Entry {
                        seq: record.seq,
                        id: journaled.id.or_else(|| journal.id_of(record.seq)),
                        write: journaled.write,
                        queued_ms: record.queued_ms,
                    }),
                    Err(error) => {
                        if entries.is_empty() {
                            unreadable = Some((record, error));
                        }
                        break;
                    }
                }
            }
            if let Some((record, error)) = unreadable {
                // Written by this program, so only a different version could leave
                // one: keep it for an administrator and go on.
                let line = serde_json::json!({
                    "client": self.client,
                    "at_ms": now_ms(),
                    "error": format!("unreadable journal record: {error}"),
                    "record": String::from_utf8_lossy(&record.payload),
                });
                spool.dead_letter(&self.client, &line);
                spool.acknowledge(&self.client, record.seq);
                self.written.send_if_modified(|w| raise(w, record.seq));
                continue;
            }
            if !entries.is_empty() {
                return Some(cut_at_barrier(entries));
            }
        }
        let mut entries = Vec::new();
        let mut bytes = 0;
        for entry in &spool.memory {
            let size = entry.write.approx_bytes();
            if !entries.is_empty()
                && (entries.len() >= MAX_BATCH_ROWS
                    || bytes + size > MAX_BATCH_BYTES
                    || entry.write.is_barrier())
            {
                break;
            }
            entries.push(entry.clone());
            bytes += size;
            if entry.write.is_barrier() {
                break;
            }
        }
        (!entries.is_empty()).then_some(entries)
    }

    /// Keeps ids drawn for queued writes with them: in memory, or durably in the
    /// journal's position file when the writes are journaled.
    fn remember_ids(&self, ids: &[(u64, i64)]) {
        let mut spool = lock(&self.spool);
        let mut journaled = Vec::new();
        for (seq, id) in ids {
            match spool.memory.binary_search_by_key(seq, |e| e.seq) {
                Ok(at) => spool.memory[at].id = Some(*id),
                Err(_) => journaled.push((*seq, *id)),
            }
        }
        if !journaled.is_empty()
            && let Some(journal) = spool.journal.as_mut()
            && let Err(error) = journal.remember_ids(&journaled)
        {
            tracing::error!(client = self.client, %error, "cannot keep drawn ids in the journal; a crash now could write these rows twice");
        }
    }

    /// Everything up to `seq` is written.
    fn written_through(&self, seq: u64) {
        lock(&self.spool).acknowledge(&self.client, seq);
        self.written.send_if_modified(|w| raise(w, seq));
    }

    /// The database refused this write for good: it goes to the dead-letter file.
    fn refuse(&self, entry: &Entry, error: &StoreError) {
        let write = serde_json::to_value(&entry.write)
            .unwrap_or_else(|_| serde_json::Value::String(entry.write.describe()));
        tracing::error!(
            client = self.client,
            %error,
            row = %write,
            "the database refused a write for good; it is kept in the dead-letter file: {}",
            entry.write.describe()
        );
        let line = serde_json::json!({
            "client": self.client,
            "at_ms": now_ms(),
            "queued_ms": entry.queued_ms,
            "error": error.to_string(),
            "id": entry.id,
            "write": write,
        });
        let mut spool = lock(&self.spool);
        spool.dead_letter(&self.client, &line);
        spool.acknowledge(&self.client, entry.seq);
        drop(spool);
        self.written.send_if_modified(|w| raise(w, entry.seq));
    }

    fn set_unavailable(&self, unavailable: bool) {
        let mut spool = lock(&self.spool);
        match (unavailable, spool.unavailable_since) {
            (true, None) => spool.unavailable_since = Some(Instant::now()),
            (false, Some(_)) => spool.unavailable_since = None,
            _ => {}
        }
    }

    /// Moves waiting writes to the journal once the database has failed long enough.
    fn spill_if_due(&self) {
        let mut spool = lock(&self.spool);
        if !spool.memory.is_empty()
            && !spool.closed
            && let Some(reason) = spool.spill_reason(0)
        {
            spool.spill(&self.client, reason);
        }
    }

    fn is_closed(&self) -> bool {
        lock(&self.spool).closed
    }
}

fn raise(written: &mut u64, seq: u64) -> bool {
    if seq > *written {
        *written = seq;
        true
    } else {
        false
    }
}

/// A barrier write goes alone; other writes stop before one.
fn cut_at_barrier(mut entries: Vec<Entry>) -> Vec<Entry> {
    let cut = match entries.iter().position(|e| e.write.is_barrier()) {
        Some(0) => 1,
        Some(at) => at,
        None => entries.len(),
    };
    entries.truncate(cut);
    entries
}

impl Spool {
    fn pending(&self) -> usize {
        self.journal.as_ref().map_or(0, Journal::pending) + self.memory.len()
    }

    fn spill_reason(&self, adding: usize) -> Option<&'static str> {
        self.dir.as_ref()?;
        if self.memory_bytes + adding > MEMORY_BOUND {
            Some("the memory bound is reached")
        } else if self
            .unavailable_since
            .is_some_and(|since| since.elapsed() >= SPILL_AFTER)
        {
            Some("the database is not answering")
        } else {
            None
        }
    }

    /// Appends to the journal when there is one (else, or when that fails, memory).
    fn add(&mut self, client: &str, entry: Entry) {
        if let Some(journal) = self.journal.as_mut()
            && !matches!(entry.write, Write::Purge { .. })
            && self.memory.is_empty()
        {
            match append(journal, &entry) {
                Ok(()) => return,
                Err(error) => {
                    tracing::error!(client, %error, "cannot append to the write journal; keeping the write in memory")
                }
            }
        }
        self.memory_bytes += entry.write.approx_bytes();
        self.memory.push_back(entry);
    }

    /// Moves every write in memory to the journal (started if needed), in order.
    fn spill(&mut self, client: &str, reason: &str) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        if self.journal.is_none() {
            match Journal::create(&dir) {
                Ok(journal) => self.journal = Some(journal),
                Err(error) => {
                    tracing::error!(client, dir = %dir.display(), %error, "cannot start the write journal; writes stay in memory");
                    return;
                }
            }
        }
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let count = self.memory.len();
        let mut moved = 0;
        while let Some(entry) = self.memory.front() {
            if let Write::Purge { .. } = entry.write {
                // A purge cannot wait on disk; it runs again tomorrow.
                tracing::warn!(
                    client,
                    "message purge skipped: the database is not answering"
                );
            } else if let Err(error) = append(journal, entry) {
                tracing::error!(client, %error, "cannot append to the write journal; the rest stays in memory");
                break;
            }
            self.memory_bytes = self.memory_bytes.saturating_sub(entry.write.approx_bytes());
            self.memory.pop_front();
            moved += 1;
        }
        if let Err(error) = journal.sync() {
            tracing::error!(client, %error, "cannot sync the write journal");
        }
        tracing::info!(
            client,
            writes = moved,
            of = count,
            journal_bytes = journal.bytes(),
            "database writes go to the journal: {reason}"
        );
    }

    fn acknowledge(&mut self, client: &str, seq: u64) {
        if let Some(journal) = self.journal.as_mut()
            && journal.commit_through(seq)
            && !self.closed
            && let Some(journal) = self.journal.take()
        {
            let bytes = journal.bytes();
            journal.remove();
            tracing::info!(
                client,
                journal_bytes = bytes,
                "write journal drained; writes are kept in memory again"
            );
        }
        while let Some(first) = self.memory.front()
            && first.seq <= seq
        {
            self.memory_bytes = self.memory_bytes.saturating_sub(first.write.approx_bytes());
            self.memory.pop_front();
        }
    }

    fn dead_letter(&self, client: &str, line: &serde_json::Value) {
        let Some(dir) = &self.dir else {
            return;
        };
        if let Err(error) = journal::dead_letter(dir, line) {
            tracing::error!(client, dir = %dir.display(), %error, "cannot write the dead-letter file; the refused write is only in this log: {line}");
        }
    }
}

fn append(journal: &mut Journal, entry: &Entry) -> std::io::Result<()> {
    let payload = serde_json::to_vec(&JournaledRef {
        id: entry.id,
        write: &entry.write,
    })
    .map_err(std::io::Error::other)?;
    journal.append(entry.seq, entry.queued_ms, &payload)
}

impl WriteQueueWorker {
    /// Writes batches in order until the queue is closed.
    pub async fn run(self, store: Store) {
        let shared = &self.shared;
        let _ = shared.health.set(store.health().clone());
        shared.set_unavailable(false);
        let mut allocation = None;
        let mut backoff = Duration::from_millis(100);
        let mut batch: Option<Vec<Entry>> = None;
        let mut one_by_one = false;
        loop {
            if batch.is_none() {
                batch = shared.next_batch();
                one_by_one = false;
            }
            let Some(entries) = batch.as_mut() else {
                if shared.is_closed() {
                    return;
                }
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            };
            let take = if one_by_one { 1 } else { entries.len() };
            let narrow = store.narrow_columns();
            for entry in entries[..take].iter_mut() {
                entry.write.fit_columns(&narrow);
            }
            match attempt(shared, &store, &mut entries[..take], &mut allocation).await {
                Ok(()) => {
                    let now = now_ms();
                    for entry in &entries[..take] {
                        let waited = u64::try_from(now - entry.queued_ms).unwrap_or(0);
                        metrics::write_completed(&shared.client, Duration::from_millis(waited));
                    }
                    if let Some(outage) = store.health().answered() {
                        tracing::info!(
                            client = shared.client,
                            outage_s = outage.as_secs(),
                            pending = shared.status().pending,
                            "database writes work again"
                        );
                    }
                    shared.set_unavailable(false);
                    backoff = Duration::from_millis(100);
                    entries.drain(..take);
                    if entries.is_empty() || !one_by_one {
                        batch = None;
                    }
                }
                Err(error) if is_permanent(&error) => {
                    store.health().answered();
                    if take > 1 {
                        tracing::warn!(client = shared.client, %error, rows = take, "the database refused a batch; writing its rows one by one");
                        one_by_one = true;
                    } else {
                        metrics::database_error(&shared.client, DatabaseError::WriteDropped);
                        shared.refuse(&entries[0], &error);
                        entries.remove(0);
                        if entries.is_empty() {
                            batch = None;
                        }
                    }
                }
                Err(error) => {
                    metrics::database_error(&shared.client, DatabaseError::WriteRetried);
                    if store.health().failed(&error.to_string()) {
                        tracing::warn!(
                            client = shared.client,
                            %error,
                            pending = shared.status().pending,
                            "database writes failing; retrying"
                        );
                    } else {
                        tracing::debug!(client = shared.client, %error, "database write failed again");
                    }
                    shared.set_unavailable(true);
                    shared.spill_if_due();
                    if shared.is_closed() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// One attempt at writing these entries in one transaction, bounded by
/// [`WRITE_TIMEOUT`] (a hung database is a failure like any other). Ids are drawn first
/// for the rows that have none and kept with the rows before the transaction starts.
async fn attempt(
    shared: &Shared,
    store: &Store,
    entries: &mut [Entry],
    allocation: &mut Option<Allocation>,
) -> Result<(), StoreError> {
    let limit = if entries
        .iter()
        .any(|e| matches!(e.write, Write::Purge { .. }))
    {
        PURGE_TIMEOUT
    } else {
        WRITE_TIMEOUT
    };
    let timeout = |what| StoreError::Timeout { what, after: limit };
    let mut conn = tokio::time::timeout(WRITE_TIMEOUT, store.pool().acquire())
        .await
        .map_err(|_| timeout("taking a database connection"))?
        .map_err(StoreError::query("taking a database connection"))?;
    let dialect = store.dialect();
    let work = async {
        let missing: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].id.is_none() && entries[i].write.needs_sequence_id())
            .collect();
        if !missing.is_empty() {
            let mode = match *allocation {
                Some(mode) => mode,
                None => {
                    let mode = sequence::allocation(&mut conn, dialect).await?;
                    *allocation = Some(mode);
                    mode
                }
            };
            let ids = sequence::reserve(
                &mut conn,
                dialect,
                mode,
                Sequence::ChatroomHistory,
                missing.len(),
            )
            .await?;
            let mut drawn = Vec::with_capacity(ids.len());
            for (&i, id) in missing.iter().zip(ids) {
                entries[i].id = Some(id);
                drawn.push((entries[i].seq, id));
            }
            shared.remember_ids(&drawn);
        }
        let items: Vec<Item<'_>> = entries
            .iter()
            .map(|e| Item {
                id: e.id,
                write: &e.write,
            })
            .collect();
        batch::apply(&mut conn, dialect, &items).await
    };
    let report = match tokio::time::timeout(limit, work).await {
        Ok(result) => result?,
        Err(_) => {
            // The connection is in an unknown state (maybe mid-COMMIT): never reuse it.
            drop(conn.detach());
            return Err(timeout("writing a batch"));
        }
    };
    if let Some(last) = entries.last() {
        if let Some(report) = report {
            last.write.answer(report);
        }
        shared.transactions.fetch_add(1, Ordering::Relaxed);
        shared.written_through(last.seq);
    }
    Ok(())
}

/// Once a second: syncs the journal, and logs when writes fall behind or keep failing.
async fn housekeeping(shared: std::sync::Weak<Shared>) {
    let mut behind_warned = false;
    let mut last_reminder: Option<Instant> = None;
    loop {
        tokio::time::sleep(SYNC_EVERY).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let dirty = {
            let mut spool = lock(&shared.spool);
            if spool.closed {
                return;
            }
            spool.journal.as_mut().and_then(Journal::take_dirty)
        };
        if let Some(file) = dirty {
            let synced =
                tokio::task::spawn_blocking(move || file.and_then(|f| f.sync_data())).await;
            if let Ok(Err(error)) = synced {
                tracing::error!(client = shared.client, %error, "cannot sync the write journal");
            }
        }
        let status = shared.status();
        let oldest = status.oldest.unwrap_or_default();
        if !behind_warned && oldest >= BEHIND_WARNING {
            behind_warned = true;
            tracing::warn!(
                client = shared.client,
                pending = status.pending,
                oldest_s = oldest.as_secs(),
                journal_bytes = status.journal_bytes,
                "database writes are behind: {}",
                status.summary()
            );
        } else if behind_warned && oldest < Duration::from_secs(1) {
            behind_warned = false;
            tracing::info!(client = shared.client, "database writes caught up");
        }
        if let Some(DatabaseState::Failing { .. }) = status.database {
            if last_reminder.is_none_or(|at| at.elapsed() >= FAILING_REMINDER) {
                if last_reminder.is_some() {
                    tracing::warn!(
                        client = shared.client,
                        pending = status.pending,
                        journal_bytes = status.journal_bytes,
                        "{}",
                        status.summary()
                    );
                }
                last_reminder = Some(Instant::now());
            }
        } else {
            last_reminder = None;
        }
    }
}
