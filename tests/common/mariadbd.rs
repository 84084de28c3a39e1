//! [`ThrowawayMariadb`]: a MariaDB server of the test's own (its own data directory in a
//! temp dir, its own port and socket), for tests that stop the database under a running
//! chat server. The shared test server is never stopped.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions as _, Connection as _};

use super::db::DbServer;
use super::files::TempDir;
use super::process::{Daemon, free_port};
use super::tools::{is_root, require_tool, run_tool};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A mariadbd on 127.0.0.1:`port` (root without password), killed on drop.
pub struct ThrowawayMariadb {
    pub port: u16,
    /// Its unix socket, in the temp dir.
    pub socket: PathBuf,
    mariadbd: PathBuf,
    process: Option<Daemon>,
    // Last: removed after the process is gone.
    dir: TempDir,
}

impl ThrowawayMariadb {
    /// Initialises a data directory and starts the server; waits until it answers.
    pub async fn start() -> ThrowawayMariadb {
        let mariadbd = [
            "/usr/sbin/mariadbd",
            "/usr/sbin/mysqld",
            "/usr/libexec/mariadbd",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| require_tool("mariadbd", "mariadb-server"));
        let install = require_tool("mariadb-install-db", "mariadb-server");
        let dir = TempDir::new("mariadbd");
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            cmd.arg("--user=root");
        }
        let (status, out, err) = run_tool(&mut cmd, START_TIMEOUT);
        assert!(status.success(), "mariadb-install-db failed: {out}{err}");
        let mut server = ThrowawayMariadb {
            port: free_port(),
            socket: dir.join("mysqld.sock"),
            mariadbd,
            process: None,
            dir,
        };
        server.restart().await;
        server
    }

    /// Starts the (stopped) server again on the same port and data directory.
    pub async fn restart(&mut self) {
        let mut args = vec![
            "--no-defaults".to_string(),
            format!("--datadir={}", self.dir.join("data").display()),
            format!("--socket={}", self.socket.display()),
            format!("--pid-file={}", self.dir.join("mysqld.pid").display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_string(),
            "--skip-networking=0".to_string(),
            "--skip-log-bin".to_string(),
            "--innodb-buffer-pool-size=16M".to_string(),
            "--character-set-server=utf8mb4".to_string(),
            "--collation-server=utf8mb4_unicode_ci".to_string(),
        ];
        if is_root() {
            args.push("--user=root".to_string());
        }
        let process = Daemon::spawn("mariadbd", &self.mariadbd, &args, &[], self.dir.path());
        self.process = Some(process);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(c) = self.server().options().connect().await {
                let _ = c.close().await;
                return;
            }
            if let Some(p) = self.process.as_mut()
                && let Some(status) = p.try_wait()
            {
                panic!("mariadbd exited ({status}):\n{}", p.logs());
            }
            assert!(Instant::now() < deadline, "mariadbd did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server (SIGTERM, then waits for the exit).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(nix::sys::signal::Signal::SIGTERM);
            if process.wait_exit(START_TIMEOUT).await.is_none() {
                process.kill();
            }
        }
    }

    /// How to reach it as root.
    pub fn server(&self) -> DbServer {
        DbServer {
            host: "127.0.0.1".to_string(),
            port: self.port,
            user: "root".to_string(),
            pass: String::new(),
        }
    }
}
