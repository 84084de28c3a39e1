//! [`TestDb`]: a uniquely named MariaDB/MySQL database with one of the ILIAS chat
//! schemas from `tests/fixtures/schema/`, dropped again when the handle goes away.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, MySqlPool};

use super::files::{KEEP_ENV, keep_artifacts, unique_name};

/// Environment variable naming the test database server.
pub const DATABASE_URL_ENV: &str = "ILIAS_CHAT_TEST_DATABASE_URL";
/// Used when [`DATABASE_URL_ENV`] is not set.
pub const DEFAULT_DATABASE_URL: &str = "mysql://root@127.0.0.1:3306";

const DB_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL of the test database server (`mysql://user:pass@host:port`, no database).
pub fn test_database_url() -> String {
    match std::env::var(DATABASE_URL_ENV) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => DEFAULT_DATABASE_URL.to_owned(),
    }
}

/// Host, port and credentials of the test database server.
#[derive(Clone, PartialEq, Eq)]
pub struct DbServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
}

impl fmt::Debug for DbServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mysql://{}@{}:{}", self.user, self.host, self.port)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl DbServer {
    /// Parses `mysql://user[:pass]@host[:port][/]`. A database path, if any, is ignored.
    pub fn parse(url: &str) -> DbServer {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .unwrap_or_else(|| {
                panic!("{DATABASE_URL_ENV}={url:?}: expected mysql://user:pass@host:port")
            });
        let rest = rest.split(['/', '?']).next().unwrap_or_default();
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("root", rest),
        };
        let (user, pass) = match userinfo.split_once(':') {
            Some((u, p)) => (percent_decode(u), percent_decode(p)),
            None => (percent_decode(userinfo), String::new()),
        };
        // host:port, [v6]:port, host, [v6]
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (
                h.trim_start_matches('[').trim_end_matches(']').to_owned(),
                p.parse::<u16>()
                    .unwrap_or_else(|_| panic!("{DATABASE_URL_ENV}={url:?}: bad port {p:?}")),
            ),
            _ => (
                hostport
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                3306,
            ),
        };
        assert!(!host.is_empty(), "{DATABASE_URL_ENV}={url:?}: no host");
        DbServer {
            host,
            port,
            user,
            pass,
        }
    }

    /// The server named by [`test_database_url`].
    pub fn from_env() -> DbServer {
        DbServer::parse(&test_database_url())
    }

    /// Connection options without a database.
    pub fn options(&self) -> MySqlConnectOptions {
        let mut o = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .charset("utf8mb4");
        if !self.pass.is_empty() {
            o = o.password(&self.pass);
        }
        o.disable_statement_logging()
    }

    /// `mysql://user:pass@host:port[/database]` (credentials not escaped; for humans and
    /// for tools that accept this form).
    pub fn url(&self, database: Option<&str>) -> String {
        let auth = if self.pass.is_empty() {
            self.user.clone()
        } else {
            format!("{}:{}", self.user, self.pass)
        };
        match database {
            Some(db) => format!("mysql://{auth}@{}:{}/{db}", self.host, self.port),
            None => format!("mysql://{auth}@{}:{}", self.host, self.port),
        }
    }

    async fn admin_connection(&self) -> sqlx::MySqlConnection {
        match tokio::time::timeout(DB_CONNECT_TIMEOUT, self.options().connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("{}", self.unreachable_message(&e.to_string())),
            Err(_) => panic!(
                "{}",
                self.unreachable_message(&format!("no answer within {DB_CONNECT_TIMEOUT:?}"))
            ),
        }
    }

    fn unreachable_message(&self, err: &str) -> String {
        format!(
            "\n\n*** The integration tests need a MariaDB/MySQL server and cannot reach {self:?}: {err}\n\
             *** Either start one (root without password on 127.0.0.1:3306 is the default),\n\
             *** or set {DATABASE_URL_ENV}=mysql://user:pass@host:port (no database),\n\
             *** or run `bash tests/run.sh`, which provisions a throwaway MariaDB.\n"
        )
    }
}

/// The ILIAS schema generation a test database is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// ILIAS 8: private rooms, `chatroom_history.sub_room`.
    Ilias8,
    /// ILIAS 9: no private rooms, still `chatroom_smilies`.
    Ilias9,
    /// ILIAS 10: no smilies, no uploads, no `restrict_history`.
    Ilias10,
}

impl Schema {
    pub const ALL: [Schema; 3] = [Schema::Ilias8, Schema::Ilias9, Schema::Ilias10];

    /// The fixture SQL (`tests/fixtures/schema/ilias<N>.sql`).
    pub fn sql(self) -> &'static str {
        match self {
            Schema::Ilias8 => include_str!("../fixtures/schema/ilias8.sql"),
            Schema::Ilias9 => include_str!("../fixtures/schema/ilias9.sql"),
            Schema::Ilias10 => include_str!("../fixtures/schema/ilias10.sql"),
        }
    }

    /// 8, 9 or 10.
    pub fn version(self) -> u8 {
        match self {
            Schema::Ilias8 => 8,
            Schema::Ilias9 => 9,
            Schema::Ilias10 => 10,
        }
    }
}

/// Splits a fixture file into statements: `--` comment lines are dropped, a statement
/// ends with `;` at the end of a line.
pub fn split_sql(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let t = line.trim();
        if t.starts_with("--") || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            let stmt = cur.trim().trim_end_matches(';').trim().to_owned();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            cur.clear();
        }
    }
    assert!(
        cur.trim().is_empty(),
        "SQL fixture ends with an unterminated statement: {cur}"
    );
    out
}

/// A fresh database with an ILIAS chat schema; dropped when this handle is dropped
/// (or explicitly with [`TestDb::drop_db`]).
pub struct TestDb {
    /// Database name: `ilias_chat_t_<pid>_<counter>_<random>`.
    pub name: String,
    pub schema: Schema,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    server: DbServer,
    pool: Option<MySqlPool>,
    dropped: bool,
}

impl TestDb {
    /// Creates the database and applies the fixture schema. Panics with a clear message
    /// if the database server cannot be reached.
    pub async fn create(schema: Schema) -> TestDb {
        let server = DbServer::from_env();
        let name = unique_name("ilias_chat_t");
        let mut admin = server.admin_connection().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {server:?} failed: {e}"));
        let _ = admin.close().await;

        // From here on, Drop removes the database even if applying the schema panics.
        let mut db = TestDb {
            name: name.clone(),
            schema,
            host: server.host.clone(),
            port: server.port,
            user: server.user.clone(),
            pass: server.pass.clone(),
            server: server.clone(),
            pool: None,
            dropped: false,
        };
        let pool = MySqlPoolOptions::new()
            .max_connections(3)
            .acquire_timeout(DB_CONNECT_TIMEOUT)
            .connect_with(server.options().database(&name))
            .await
            .unwrap_or_else(|e| panic!("{}", server.unreachable_message(&e.to_string())));
        for stmt in split_sql(schema.sql()) {
            sqlx::raw_sql(AssertSqlSafe(stmt.clone()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("applying {schema:?} schema to {name}: {e}\n{stmt}"));
        }
        db.pool = Some(pool);
        db
    }

    /// `mysql://user:pass@host:port/<name>`.
    pub fn url(&self) -> String {
        self.server.url(Some(&self.name))
    }

    /// A pool on this database (for fixtures and assertions).
    pub fn pool(&self) -> &MySqlPool {
        self.pool.as_ref().expect("TestDb pool already closed")
    }

    /// Runs several `;`-terminated statements (same format as the schema fixtures).
    pub async fn exec(&self, sql: &str) {
        for stmt in split_sql(sql) {
            sqlx::raw_sql(AssertSqlSafe(stmt.clone()))
                .execute(self.pool())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}\n{stmt}", self.name));
        }
    }

    /// Table names of this database, sorted.
    pub async fn tables(&self) -> Vec<String> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? ORDER BY table_name",
        )
        .bind(&self.name)
        .fetch_all(self.pool())
        .await
        .expect("listing tables");
        rows.into_iter().map(|(t,)| t).collect()
    }

    /// The same database as the server's typed configuration (for library tests).
    pub fn database_config(&self) -> ilias_chat::config::DatabaseConfig {
        ilias_chat::config::DatabaseConfig::Mysql {
            host: Some(self.host.clone()),
            port: self.port,
            socket: None,
            name: self.name.clone(),
            user: self.user.clone(),
            pass: self.pass.clone(),
        }
    }

    /// The `database` section of a client.cfg, exactly as ILIAS writes it.
    pub fn client_cfg_database(&self) -> Value {
        json!({
            "type": "mysql",
            "host": self.host,
            "port": self.port,
            "name": self.name,
            "user": self.user,
            "pass": self.pass,
        })
    }

    /// Closes the pool and drops the database (async; preferred at the end of a test).
    pub async fn drop_db(mut self) {
        if let Some(pool) = self.pool.take() {
            pool.close().await;
        }
        if !keep_artifacts() {
            drop_database(&self.server, &self.name).await;
        }
        self.dropped = true;
    }
}

async fn drop_database(server: &DbServer, name: &str) {
    let work = async {
        let mut c = server.options().connect().await?;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&mut c)
            .await?;
        c.close().await
    };
    match tokio::time::timeout(Duration::from_secs(30), work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: could not drop test database {name}: {e}"),
        Err(_) => eprintln!("warning: timeout dropping test database {name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Dropping the pool only starts closing its connections; DROP DATABASE does not
        // wait for idle connections (they hold no metadata locks).
        drop(self.pool.take());
        if keep_artifacts() {
            eprintln!("{KEEP_ENV}=1: keeping test database {}", self.name);
            return;
        }
        // Drop may run inside a tokio runtime (or without one): use a thread with its own.
        let server = self.server.clone();
        let name = self.name.clone();
        let joined =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(drop_database(&server, &name)),
                    Err(e) => eprintln!("warning: no runtime to drop test database {name}: {e}"),
                }
            })
            .join();
        if joined.is_err() {
            eprintln!("warning: dropping test database {} panicked", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        let s = DbServer::parse("mysql://root@127.0.0.1:3306");
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.pass.as_str()),
            ("127.0.0.1", 3306, "root", "")
        );
        let s = DbServer::parse("mysql://u%40x:p%3Aw@db.local:3307/");
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.pass.as_str()),
            ("db.local", 3307, "u@x", "p:w")
        );
    }
}
