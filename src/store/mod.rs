//! The database of one ILIAS client: connection pool, ILIAS sequence emulation,
//! generation detection, and every SQL statement of the server, by ILIAS table family:
//! [`chatroom`] (repository chat rooms) and [`osc`] (on-screen chat).
//!
//! The schema belongs to ILIAS: nothing here creates or alters tables in an ILIAS
//! database. Queries are runtime strings with `?` placeholders so that one code path
//! serves MySQL/MariaDB (production) and SQLite (the demo).

mod backlog;
mod charset;
pub mod chatroom;
mod connect;
pub mod demo;
mod health;
pub mod osc;
mod queue;
mod release;
pub mod schema;
mod sequence;
pub mod session;
mod writes;

use std::time::Duration;

use sqlx::AnyPool;

use crate::config::DatabaseConfig;

pub use backlog::Backlog;
pub use charset::NarrowColumns;
pub use connect::Route;
pub use health::{DatabaseHealth, HealthReport, Reachability};
pub use queue::{WriteQueue, WriteQueueWorker};
pub use release::Detection;
pub use sequence::Sequence;
pub use writes::{PurgeReport, Reply, Write};

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
        let count: i64 = sqlx::query_scalar(sql)
            .bind(table)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("looking up a table"))?;
        Ok(count > 0)
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
