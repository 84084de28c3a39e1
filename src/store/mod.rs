//! The database of one ILIAS client: connection pool, ILIAS sequence emulation,
//! generation detection, and every SQL statement of the server, by ILIAS table family:
//! [`chatroom`] (repository chat rooms) and [`osc`] (on-screen chat).
//!
//! The schema belongs to ILIAS: nothing here creates or alters tables in an ILIAS
//! database. Queries are runtime strings with `?` placeholders so that one code path
//! serves MySQL/MariaDB (production) and SQLite (the demo).

mod answers;
mod batch;
mod charset;
pub mod chatroom;
mod connect;
pub mod demo;
mod health;
mod journal;
pub mod osc;
mod queue;
mod release;
pub mod schema;
mod sequence;
pub mod session;
mod sql;
mod writes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

use crate::config::DatabaseConfig;

pub use answers::{DatabaseState, Health};
pub use charset::NarrowColumns;
pub use connect::Route;
pub use health::{DatabaseHealth, HealthReport, Reachability};
pub use journal::DEAD_LETTER_FILE;
pub use queue::{QueueStatus, WriteQueue, WriteQueueWorker};
pub use release::Detection;
pub use sequence::Sequence;
pub use writes::{PurgeReport, Reply, Write, is_permanent};

/// How long a read that a browser waits for (conversation list, history) may take,
/// connection included, before it gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a start-up load of a whole table (rooms, conversations, settings) may take.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong talking to a client's database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The pool could not be opened.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("{what} failed: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The database did not report the id of a sequence row it just inserted.
    #[error("{table}: the database returned no insert id")]
    NoInsertId { table: &'static str },
    /// The database did not answer in time.
    #[error("{what}: no answer from the database within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    /// The database failed moments ago; a read does not wait for it again.
    #[error("the database is not answering")]
    Unavailable,
}

impl StoreError {
    /// Wraps a failed statement with what it was meant to do.
    pub fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { what, source }
    }
}

/// Which SQL dialect the pool speaks; the few statements that differ branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Mysql,
    Sqlite,
}

/// An open connection pool to one ILIAS client's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Text columns that cannot hold 4-byte characters (see `charset`).
    narrow: NarrowColumns,
    /// Whether the database answers its calls (shared by every clone of this store).
    health: Arc<Health>,
}

impl Store {
    /// Opens the pool and checks that one connection can be made.
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, StoreError> {
        connect::open(config).await
    }

    /// Opens the pool, retrying with exponential backoff (1 s doubling up to 30 s) until
    /// it works. Failures go to `health`, which logs them once a minute.
    pub async fn connect_with_retry(
        client: &str,
        config: &DatabaseConfig,
        health: &DatabaseHealth,
    ) -> Store {
        let mut delay = Duration::from_secs(1);
        loop {
            match Store::connect(config).await {
                Ok(store) => {
                    health.reachable();
                    tracing::info!(
                        client,
                        database = %config.describe(),
                        via = %Route::of(config),
                        "database connected over {}",
                        Route::of(config)
                    );
                    return store;
                }
                Err(error) => {
                    health.unreachable(&error);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Wraps an existing pool (used by tests and the demo).
    pub fn from_pool(pool: AnyPool, dialect: Dialect) -> Store {
        Store {
            pool,
            dialect,
            narrow: NarrowColumns::default(),
            health: Arc::default(),
        }
    }

    /// Whether the database answers (shared by every clone of this store).
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Runs a read that someone waits for, bounded by [`READ_TIMEOUT`]; fails at once
    /// while the database is known not to answer. The outcome updates [`Store::health`].
    pub async fn bounded<T>(
        &self,
        what: &'static str,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.bounded_for(what, READ_TIMEOUT, read).await
    }

    /// [`Store::bounded`] with another bound (the loads at start-up read whole tables).
    pub async fn bounded_for<T>(
        &self,
        what: &'static str,
        limit: Duration,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.health.fail_fast() {
            return Err(StoreError::Unavailable);
        }
        match tokio::time::timeout(limit, read).await {
            Ok(Ok(value)) => {
                self.health.answered();
                Ok(value)
            }
            Ok(Err(error)) => {
                if writes::is_transient(&error) {
                    self.health.failed(&error.to_string());
                }
                Err(error)
            }
            Err(_) => {
                let error = StoreError::Timeout { what, after: limit };
                self.health.failed(&error.to_string());
                Err(error)
            }
        }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The SQL dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Allocates the next id of an ILIAS sequence table, exactly as ILIAS PHP does, so
    /// that PHP and the chat server never hand out the same id.
    pub async fn next_id(&self, sequence: Sequence) -> Result<i64, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::query("taking a database connection"))?;
        sequence::next_id(&mut conn, sequence).await
    }

    /// Whether a table exists in this database.
    pub async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let sql = match self.dialect {
            Dialect::Mysql => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
            }
        };
        let count: i64 = self
            .bounded("looking up a table", async {
                sqlx::query_scalar(sql)
                    .bind(table)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::query("looking up a table"))
            })
            .await?;
        Ok(count > 0)
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
