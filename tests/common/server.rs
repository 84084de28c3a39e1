//! [`TestServer`]: the daemon started from a server.cfg and client.cfg files and waited
//! for until its backend answers, for tests that only talk to it.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::files::TempDir;
use super::http::http_request;
use super::process::Daemon;
use super::setup::DaemonSetup;
use super::tools::is_root;

const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

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
        let mut setup = DaemonSetup::new(&dir).server_cfg(server_cfg);
        for c in client_cfgs {
            setup = setup.client(c.clone());
        }
        // Tests run as root in CI; without a service user the server would refuse to
        // start (it drops root to `onscreenchat` by default).
        if is_root() {
            setup = setup.user("root");
        }
        let process = setup.spawn();
        let https = setup.server()["protocol"].as_str() == Some("https");
        let port = setup.port();
        let names = setup.client_names();
        let server_cfg_path = setup.server_cfg_path();
        let client_cfg_paths = (0..client_cfgs.len())
            .map(|i| setup.client_cfg_path(i))
            .collect();
        let mut server = TestServer {
            port,
            names,
            server_cfg_path,
            client_cfg_paths,
            process,
            dir,
        };
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
