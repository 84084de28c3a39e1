//! Shared harness for the integration tests (`mod common;` in every `tests/*.rs`).
//!
//! * [`TestDb`]: a uniquely named MariaDB/MySQL database with one of the ILIAS chat
//!   schemas from `tests/fixtures/schema/`, dropped again when the handle goes away.
//! * [`TestServer`]: the `ilias-chat` binary started with a server.cfg and client.cfg
//!   files in a temporary directory, killed on drop (its log is printed when the test
//!   failed).
//! * [`http_get`] / [`http_request`]: a minimal HTTP/1.1 client that talks to the backend
//!   API exactly like ILIAS PHP does (`Connection: close`, JSON content type, Basic auth).
//!
//! The database server comes from `ILIAS_CHAT_TEST_DATABASE_URL`
//! (`mysql://user:pass@host:port`, no database), by default `mysql://root@127.0.0.1:3306`.
//! `tests/run.sh` provisions one when none is running. Tests never skip without it: they
//! fail with a message that says what is missing.
#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, MySqlPool};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub mod systemd;

/// Environment variable naming the test database server.
pub const DATABASE_URL_ENV: &str = "ILIAS_CHAT_TEST_DATABASE_URL";
/// Used when [`DATABASE_URL_ENV`] is not set.
pub const DEFAULT_DATABASE_URL: &str = "mysql://root@127.0.0.1:3306";
/// Set to `1` to keep test databases and temp dirs for inspection.
pub const KEEP_ENV: &str = "ILIAS_CHAT_TEST_KEEP";

const DB_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn keep_artifacts() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1")
}

/// A random 64-bit value from the std hasher's random keys (no extra crates needed).
fn random_u64() -> u64 {
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// `<prefix>_<pid>_<counter>_<random>`: unique across parallel tests and test binaries.
fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{n}_{:08x}",
        std::process::id(),
        random_u64() as u32
    )
}

// ---------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------

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
    /// ILIAS 11: ILIAS 10's chat tables; `settings` says 11.
    Ilias11,
}

impl Schema {
    pub const ALL: [Schema; 4] = [
        Schema::Ilias8,
        Schema::Ilias9,
        Schema::Ilias10,
        Schema::Ilias11,
    ];

    /// The fixture SQL (`tests/fixtures/schema/ilias<N>.sql`).
    pub fn sql(self) -> &'static str {
        match self {
            Schema::Ilias8 => include_str!("../fixtures/schema/ilias8.sql"),
            Schema::Ilias9 => include_str!("../fixtures/schema/ilias9.sql"),
            Schema::Ilias10 => include_str!("../fixtures/schema/ilias10.sql"),
            Schema::Ilias11 => include_str!("../fixtures/schema/ilias11.sql"),
        }
    }

    /// 8, 9, 10 or 11.
    pub fn version(self) -> u8 {
        match self {
            Schema::Ilias8 => 8,
            Schema::Ilias9 => 9,
            Schema::Ilias10 => 10,
            Schema::Ilias11 => 11,
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

// ---------------------------------------------------------------------------
// Temporary directory
// ---------------------------------------------------------------------------

/// A temporary directory, removed on drop (kept when the test panics or with
/// `ILIAS_CHAT_TEST_KEEP=1`).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(&format!("ilias-chat-{prefix}")));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || keep_artifacts() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1 (bound once and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// A server.cfg as the ILIAS setup writes it: every key present, http on 127.0.0.1,
/// `log_level` debug, no log files, no purge. Change keys on the returned value.
pub fn server_cfg(port: u16) -> Value {
    json!({
        "address": "127.0.0.1",
        "port": port,
        "sub_directory": "",
        "protocol": "http",
        "cert": "",
        "key": "",
        "dhparam": "",
        "log": "",
        "log_level": "debug",
        "error_log": "",
        "deletion_mode": 0,
        "deletion_unit": "",
        "deletion_value": 0,
        "deletion_time": ""
    })
}

/// A client.cfg as the ILIAS admin GUI writes it (form keys + `auth` + `database`).
pub fn client_cfg(name: &str, key: &str, secret: &str, db: &TestDb) -> Value {
    json!({
        "name": name,
        "enable_osc": true,
        "enable_browser_notifications": false,
        "conversation_idle_state_in_minutes": 1,
        "chat_enabled": true,
        "enable_smilies": false,
        "auth": { "key": key, "secret": secret },
        "database": db.client_cfg_database(),
    })
}

/// The `ilias-chat` binary under test.
pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ilias-chat"))
}

/// A running `ilias-chat` process; killed on drop (its output printed when the test
/// panicked).
pub struct TestServer {
    pub port: u16,
    /// `name` of each client.cfg, in command-line order.
    pub names: Vec<String>,
    pub server_cfg_path: PathBuf,
    pub client_cfg_paths: Vec<PathBuf>,
    process: Daemon,
    // Declared last: removed after the process is gone.
    pub dir: TempDir,
}

impl TestServer {
    /// Writes the configs into a temp dir, starts the binary with
    /// `SERVER_CFG CLIENT_CFG...` (cwd = the temp dir) and waits until
    /// `GET /backend/Heartbeat/<first client name>` answers 200 (up to 20 s).
    pub async fn start(server_cfg: Value, client_cfgs: &[Value]) -> TestServer {
        let dir = TempDir::new("srv");
        let port = match &server_cfg["port"] {
            Value::Number(n) => n.as_u64().expect("port") as u16,
            Value::String(s) => s.parse().expect("port"),
            other => panic!("server_cfg has no usable port: {other}"),
        };
        let server_cfg_path = dir.join("server.cfg");
        write_json(&server_cfg_path, &server_cfg);
        let mut client_cfg_paths = Vec::new();
        let mut names = Vec::new();
        for (i, c) in client_cfgs.iter().enumerate() {
            let p = dir.join(format!("client{i}.cfg"));
            write_json(&p, c);
            client_cfg_paths.push(p);
            names.push(c["name"].as_str().unwrap_or("undefined").to_owned());
        }
        let mut args = Vec::new();
        // Tests run as root in CI; without a service user the server would refuse to
        // start (it drops root to `onscreenchat` by default).
        if nix::unistd::geteuid().is_root() {
            args.extend(["--user".to_owned(), "root".to_owned()]);
        }
        args.push(server_cfg_path.display().to_string());
        args.extend(client_cfg_paths.iter().map(|p| p.display().to_string()));
        let process = Daemon::spawn("ilias-chat", &server_binary(), &args, &[], dir.path());
        let mut server = TestServer {
            port,
            names,
            server_cfg_path,
            client_cfg_paths,
            process,
            dir,
        };
        let https = server_cfg["protocol"].as_str() == Some("https");
        server.wait_ready(https).await;
        server
    }

    async fn wait_ready(&mut self, https: bool) {
        let probe = self
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| "probe".into());
        let path = format!("/backend/Heartbeat/{probe}");
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let mut last;
        loop {
            if let Some(status) = self.try_wait() {
                // Drop prints the server's output while panicking.
                panic!("ilias-chat exited during startup ({status}); its output follows");
            }
            if https {
                // The Rust client speaks no TLS: a successful TCP connect must do.
                match tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                    Ok(_) => return,
                    Err(e) => last = e.to_string(),
                }
            } else {
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    http_request(self.port, "GET", &path, &[]),
                )
                .await
                {
                    Ok(Ok(r)) if r.status == 200 => return,
                    Ok(Ok(r)) => last = format!("HTTP {} {}", r.status, r.body),
                    Ok(Err(e)) => last = e,
                    Err(_) => last = "timeout".into(),
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "ilias-chat did not answer GET {path} on port {} within {SERVER_START_TIMEOUT:?} \
                     (last: {last}); its output follows",
                    self.port,
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Process id of the server.
    pub fn pid(&self) -> Option<u32> {
        Some(self.process.pid)
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.process.try_wait()
    }

    /// Sends a signal (e.g. `nix::sys::signal::Signal::SIGTERM`) to the server.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        self.process.signal(sig);
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout).await
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// stdout and stderr of the server, labelled, for failure messages.
    pub fn logs(&self) -> String {
        self.process.logs()
    }
}

/// Variables a test child must never inherit from the test runner's environment: it
/// must not think it runs under systemd or log to the journal.
pub const SYSTEMD_ENV: [&str; 7] = [
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
];

/// A started process whose stdout and stderr go to files in `dir`; killed (SIGKILL) and
/// reaped on drop, its output printed when the test panicked.
pub struct Daemon {
    pub label: String,
    child: Option<Child>,
    pub pid: u32,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl Daemon {
    /// Starts `program args…` in `dir` with the systemd variables removed from the
    /// inherited environment and `env` added.
    pub fn spawn(
        label: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> Daemon {
        let stdout_path = dir.join(format!("{label}.stdout"));
        let stderr_path = dir.join(format!("{label}.stderr"));
        let stdout = fs::File::create(&stdout_path).expect("stdout file");
        let stderr = fs::File::create(&stderr_path).expect("stderr file");
        Self::spawn_with(
            label,
            program,
            args,
            env,
            dir,
            (stdout, stdout_path),
            (stderr, stderr_path),
        )
    }

    /// Like [`Daemon::spawn`] with stderr going to an existing file (opened for append),
    /// e.g. one whose dev:ino is announced in `JOURNAL_STREAM`.
    pub fn spawn_stderr_to(
        label: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        stderr_path: &Path,
    ) -> Daemon {
        let stdout_path = dir.join(format!("{label}.stdout"));
        let stdout = fs::File::create(&stdout_path).expect("stdout file");
        let stderr = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(stderr_path)
            .expect("stderr file");
        Self::spawn_with(
            label,
            program,
            args,
            env,
            dir,
            (stdout, stdout_path),
            (stderr, stderr_path.to_path_buf()),
        )
    }

    fn spawn_with(
        label: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        (stdout, stdout_path): (fs::File, PathBuf),
        (stderr, stderr_path): (fs::File, PathBuf),
    ) -> Daemon {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("RUST_BACKTRACE", "1");
        for v in SYSTEMD_ENV {
            cmd.env_remove(v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} {args:?}: {e}", program.display()));
        Daemon {
            label: label.to_owned(),
            pid: child.id(),
            child: Some(child),
            stdout_path,
            stderr_path,
            exit: None,
        }
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if self.exit.is_none() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), sig);
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Some(c) = self.child.as_mut()
        {
            self.exit = c.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `timeout` for the exit; `None` if still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        format!(
            "----- {} stderr ({}) -----\n{}----- {} stdout -----\n{}----- end of {} -----",
            self.label,
            self.stderr_path.display(),
            self.stderr(),
            self.label,
            self.stdout(),
            self.label
        )
    }

    /// Sends SIGTERM and asserts an exit with code 0 within 10 s.
    pub async fn terminate_expecting_exit_0(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.wait_exit(Duration::from_secs(10)).await;
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "exit after SIGTERM\n{}",
            self.logs()
        );
    }

    /// Kills (SIGKILL) and reaps the process now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.exit.is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// Writes `v` as pretty JSON (as PHP does) to `path`.
pub fn write_json(path: &Path, v: &Value) {
    // PHP writes JSON_PRETTY_PRINT; any JSON parser copes, pretty keeps it readable.
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(serde_json::to_string_pretty(v).unwrap().as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

/// Response headers in arrival order; lookups are case-insensitive.
#[derive(Clone, Debug, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// First value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed HTTP response.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): HTTP {} {:?}",
                self.status, self.body
            )
        })
    }
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// GET like ILIAS PHP: `Connection: close`, `Content-Type: application/json;
/// charset=utf-8`, Basic auth when given. Panics on transport errors.
pub async fn http_get(port: u16, path: &str, auth: Option<(&str, &str)>) -> (u16, Headers, String) {
    let r = ilias_request(port, "GET", path, auth).await;
    (r.status, r.headers, r.body)
}

/// Like [`http_get`] with any method (e.g. `HEAD`), returning the whole response.
pub async fn ilias_request(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> HttpResponse {
    let authz = auth.map(|(u, p)| basic_auth(u, p));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &authz {
        headers.push(("Authorization", a.as_str()));
    }
    http_request(port, method, path, &headers)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// One request on a fresh connection to 127.0.0.1:`port` with `Host`, `Connection:
/// close` and the JSON `Content-Type` PHP sends, plus `extra` headers verbatim.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<HttpResponse, String> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\n"
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let raw = tokio::time::timeout(HTTP_TIMEOUT, exchange(addr, &req))
        .await
        .map_err(|_| {
            format!("no complete response within {HTTP_TIMEOUT:?} (is Connection: close honoured?)")
        })??;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

/// Sends `req` on a fresh connection to `addr` and reads until the server closes it.
async fn exchange(addr: std::net::SocketAddr, req: &str) -> Result<Vec<u8>, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(buf)
}

fn parse_response(raw: &[u8], head: bool) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(raw)))?;
    let head_text = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let headers = Headers(headers);
    let rest = &raw[end + 4..];
    let body: Vec<u8> = if head || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad content-length {len}"))?;
        if rest.len() < len {
            return Err(format!(
                "body shorter ({}) than content-length {len}",
                rest.len()
            ));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).map_err(|e| format!("body not UTF-8: {e}"))?,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size line")?;
        let size_line = std::str::from_utf8(&data[..nl]).map_err(|e| e.to_string())?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_line:?}"))?;
        data = &data[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
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

    #[test]
    fn dechunks() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let r = parse_response(raw, false).unwrap();
        assert_eq!(r.body, "{\"a\":1}");
    }
}
