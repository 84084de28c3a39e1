//! Session lookups of one client: answered from the cache when it can, otherwise
//! gathered for one tick and asked in one statement, so that a thousand browsers
//! reconnecting at once cost a handful of queries rather than a thousand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use super::cache::{Cached, SessionCache};
use crate::ids::UserId;
use crate::store::Store;
use crate::store::session::live_sessions;

/// How long lookups are gathered before one statement asks for all of them.
pub const TICK: Duration = Duration::from_millis(20);
/// A lookup the database has not answered by then counts as a database outage (the
/// browser's handshake should not hang on a stuck database).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// What is known about one session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A live session of this user.
    Live(UserId),
    /// No live session of a real user has this id.
    Dead,
    /// The database cannot be asked and nothing recent is known.
    Unavailable,
}

/// The session verifier of one client (one per ILIAS client, shared by both namespaces).
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: String,
    cache: Mutex<SessionCache>,
    batch: Mutex<Batch>,
    /// Statements run so far (for tests and the status line).
    queries: std::sync::atomic::AtomicU64,
    /// Tests move the verifier's clock forward instead of waiting.
    #[cfg(test)]
    skew: Mutex<Duration>,
}

/// Lookups waiting for the next statement.
#[derive(Debug, Default)]
struct Batch {
    waiting: HashMap<String, Vec<oneshot::Sender<Lookup>>>,
    /// A flush is already scheduled for this batch.
    scheduled: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent at every step, so a panic elsewhere cannot poison them
    // into anything worse than a stale answer.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds since the epoch, as ILIAS writes `usr_session.expires`.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Verifier {
    /// A verifier with an empty cache.
    pub fn new(client: &str) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                client: client.to_owned(),
                cache: Mutex::new(SessionCache::default()),
                batch: Mutex::new(Batch::default()),
                queries: std::sync::atomic::AtomicU64::new(0),
                #[cfg(test)]
                skew: Mutex::new(Duration::ZERO),
            }),
        }
    }

    /// Number of `usr_session` statements run so far.
    pub fn queries(&self) -> u64 {
        self.inner
            .queries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Looks one (well-formed) session id up. `store` is the client's database, `None`
    /// while it is not connected (which counts as an outage).
    pub async fn lookup(&self, store: Option<&Store>, id: &str) -> Lookup {
        let fresh = lock(&self.inner.cache).fresh(id, self.inner.now(), unix_now());
        match fresh {
            Cached::Live(user) => return Lookup::Live(user),
            Cached::Dead => return Lookup::Dead,
            Cached::Unknown => {}
        }
        let (tx, rx) = oneshot::channel();
        let schedule = {
            let mut batch = lock(&self.inner.batch);
            batch.waiting.entry(id.to_owned()).or_default().push(tx);
            !std::mem::replace(&mut batch.scheduled, true)
        };
        if schedule {
            let inner = self.inner.clone();
            let store = store.cloned();
            tokio::spawn(async move {
                tokio::time::sleep(TICK).await;
                inner.flush(store).await;
            });
        }
        match rx.await {
            Ok(lookup) => lookup,
            // The flush task died: answer as in an outage.
            Err(_) => self.inner.stale_or_unavailable(id),
        }
    }
}

impl Inner {
    fn now(&self) -> Instant {
        #[cfg(test)]
        return Instant::now() + *lock(&self.skew);
        #[cfg(not(test))]
        Instant::now()
    }

    fn stale_or_unavailable(&self, id: &str) -> Lookup {
        match lock(&self.cache).stale(id, self.now(), unix_now()) {
            Some(user) => Lookup::Live(user),
            None => Lookup::Unavailable,
        }
    }

    /// Asks the database about every waiting id at once and answers the waiters.
    async fn flush(&self, store: Option<Store>) {
        let waiting = {
            let mut batch = lock(&self.batch);
            batch.scheduled = false;
            std::mem::take(&mut batch.waiting)
        };
        if waiting.is_empty() {
            return;
        }
        let ids: Vec<String> = waiting.keys().cloned().collect();
        let found = match &store {
            None => Err("the database is not connected yet".to_owned()),
            Some(store) => {
                self.queries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match tokio::time::timeout(QUERY_TIMEOUT, live_sessions(store, &ids, unix_now()))
                    .await
                {
                    Ok(Ok(rows)) => Ok(rows),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no answer within {} s", QUERY_TIMEOUT.as_secs())),
                }
            }
        };
        let answers: HashMap<String, Lookup> = match found {
            Ok(rows) => {
                let now = self.now();
                let mut cache = lock(&self.cache);
                let mut answers: HashMap<String, Lookup> =
                    ids.iter().map(|id| (id.clone(), Lookup::Dead)).collect();
                for row in rows {
                    cache.live(&row.session_id, row.user_id, row.expires, now);
                    answers.insert(row.session_id, Lookup::Live(row.user_id));
                }
                for (id, answer) in &answers {
                    if *answer == Lookup::Dead {
                        cache.dead(id, now);
                    }
                }
                tracing::debug!(
                    client = self.client,
                    sessions = ids.len(),
                    "ILIAS sessions looked up"
                );
                answers
            }
            Err(error) => {
                tracing::warn!(
                    client = self.client,
                    sessions = ids.len(),
                    "cannot look ILIAS sessions up ({error}); only sessions verified in the \
                     last {} minutes are accepted",
                    super::cache::STALE_LIMIT.as_secs() / 60
                );
                ids.iter()
                    .map(|id| (id.clone(), self.stale_or_unavailable(id)))
                    .collect()
            }
        };
        for (id, senders) in waiting {
            let answer = answers.get(&id).copied().unwrap_or(Lookup::Unavailable);
            for sender in senders {
                // A waiter that gave up (closed handshake) needs no answer.
                let _ = sender.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cache::{POSITIVE_TTL, STALE_LIMIT};
    use super::*;

    #[tokio::test]
    async fn without_a_database_unknown_sessions_are_unavailable() {
        let verifier = Verifier::new("t");
        assert_eq!(verifier.lookup(None, "abc").await, Lookup::Unavailable);
        assert_eq!(verifier.queries(), 0);
    }

    #[tokio::test]
    async fn without_a_database_recently_verified_sessions_still_count() {
        let verifier = Verifier::new("t");
        lock(&verifier.inner.cache).live("abc", 101, unix_now() + 3600, Instant::now());
        // Fresh: answered from the cache.
        assert_eq!(verifier.lookup(None, "abc").await, Lookup::Live(101));
        // Stale (older than the positive TTL, within the limit): still the user.
        *lock(&verifier.inner.skew) = POSITIVE_TTL + Duration::from_secs(1);
        assert_eq!(verifier.lookup(None, "abc").await, Lookup::Live(101));
        assert_eq!(verifier.lookup(None, "other").await, Lookup::Unavailable);
    }

    /// A SQLite database (the demo's dialect) with one live session of user 101.
    async fn sqlite_store(dir: &std::path::Path) -> Store {
        let config = crate::config::DatabaseConfig::Sqlite {
            path: dir.join("ilias.sqlite"),
        };
        let store = Store::connect(&config).await.expect("sqlite opens");
        sqlx::query(
            "CREATE TABLE usr_session (session_id varchar(250) PRIMARY KEY, \
             expires int NOT NULL, data text, ctime int NOT NULL DEFAULT 0, \
             user_id int NOT NULL DEFAULT 0)",
        )
        .execute(store.pool())
        .await
        .expect("create usr_session");
        sqlx::query(
            "INSERT INTO usr_session (session_id, expires, data, user_id) VALUES (?, ?, ?, 101)",
        )
        .bind("live101")
        .bind(unix_now() + 1800)
        .bind("_authsession_user_id|i:101;")
        .execute(store.pool())
        .await
        .expect("insert session");
        store
    }

    #[tokio::test]
    async fn an_outage_after_the_positive_ttl_still_admits_recent_users() {
        let dir = std::env::temp_dir().join(format!(
            "ilias-chat-verifier-{}-{}",
            std::process::id(),
            unix_now()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = sqlite_store(&dir).await;
        let verifier = Verifier::new("t");
        assert_eq!(
            verifier.lookup(Some(&store), "live101").await,
            Lookup::Live(101)
        );
        assert_eq!(verifier.lookup(Some(&store), "nope").await, Lookup::Dead);
        assert_eq!(verifier.queries(), 2);

        // Past the positive TTL the database is asked again; now it fails.
        *lock(&verifier.inner.skew) = POSITIVE_TTL + Duration::from_secs(1);
        store.close().await;
        assert_eq!(
            verifier.lookup(Some(&store), "live101").await,
            Lookup::Live(101)
        );
        assert_eq!(
            verifier.queries(),
            3,
            "the stale entry was re-checked first"
        );
        assert_eq!(
            verifier.lookup(Some(&store), "other").await,
            Lookup::Unavailable
        );

        // Past the stale limit nobody gets in on an old verification.
        *lock(&verifier.inner.skew) = STALE_LIMIT;
        assert_eq!(
            verifier.lookup(Some(&store), "live101").await,
            Lookup::Unavailable
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_flush() {
        let verifier = Verifier::new("t");
        let lookups: Vec<_> = (0..50)
            .map(|i| {
                let verifier = verifier.clone();
                tokio::spawn(async move { verifier.lookup(None, &format!("s{}", i % 10)).await })
            })
            .collect();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap(), Lookup::Unavailable);
        }
        assert!(lock(&verifier.inner.batch).waiting.is_empty());
        assert!(!lock(&verifier.inner.batch).scheduled);
    }
}
