//! [`ThrowawayMariaDb`]: a `mariadbd` of the test's own (its own datadir, socket and
//! port on 127.0.0.1), for fault tests that kill or freeze the database server. Never
//! the machine's shared server. Killed and removed when the handle goes away.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::db::DbServer;
use super::files::TempDir;
use super::process::free_port;
use super::tools::{is_root, require_tool, run_tool};

/// A private MariaDB server; see the module documentation.
pub struct ThrowawayMariaDb {
    pub port: u16,
    mariadbd: PathBuf,
    child: Option<Child>,
    dir: TempDir,
}

impl ThrowawayMariaDb {
    /// Initialises a datadir and starts the server (fails, never skips, when MariaDB's
    /// server package is missing).
    pub fn start() -> ThrowawayMariaDb {
        let mariadbd = require_tool("mariadbd", "mariadb-server");
        let install = require_tool("mariadb-install-db", "mariadb-server");
        let dir = TempDir::new("mariadb");
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            cmd.arg("--user=root");
        }
        let (status, out, err) = run_tool(&mut cmd, Duration::from_secs(120));
        assert!(status.success(), "mariadb-install-db failed:\n{out}\n{err}");
        let mut db = ThrowawayMariaDb {
            port: free_port(),
            mariadbd,
            child: None,
            dir,
        };
        db.launch();
        db
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(&self.mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-networking=0",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        self.child = Some(cmd.spawn().expect("starting mariadbd"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mariadbd exited ({status}):\n{}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not listen within 60 s:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's own log (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Host, port and credentials of this server.
    pub fn server(&self) -> DbServer {
        DbServer {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "root".into(),
            pass: String::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("mariadbd runs").id() as i32)
    }

    /// `kill -9`: the server dies at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed server again on the same datadir and port (InnoDB recovers).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "mariadbd still runs");
        self.launch();
    }

    /// `kill -STOP`: the server hangs (connections open, no answers).
    pub fn freeze(&self) {
        kill(self.pid(), Signal::SIGSTOP).expect("SIGSTOP mariadbd");
    }

    /// `kill -CONT`: a frozen server goes on.
    pub fn thaw(&self) {
        kill(self.pid(), Signal::SIGCONT).expect("SIGCONT mariadbd");
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
