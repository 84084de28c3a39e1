//! [`Daemon`]: a started process with its output in files, killed on drop; the binary
//! under test, free ports and polling for a condition.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound once and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// The `ilias-chat` binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ilias-chat"))
}

/// Polls `cond` every 50 ms for up to `timeout`.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
        let stderr_path = dir.join(format!("{label}.stderr"));
        fs::File::create(&stderr_path).expect("stderr file");
        Self::spawn_stderr_to(label, program, args, env, dir, &stderr_path)
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
            stderr_path: stderr_path.to_path_buf(),
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
