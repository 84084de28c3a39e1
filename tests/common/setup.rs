//! [`DaemonSetup`]: what a test daemon starts with (server.cfg, the client configs, the
//! `--user` to drop to, extra environment), written into the test's directory and
//! turned into a running [`Daemon`], directly or behind another program
//! (`systemd-socket-activate`, `setpriv`, `nsenter`).
//!
//! The one place that knows the daemon's command line:
//! `ilias-chat [--user NAME] SERVER_CFG CLIENT_CFG... [CLIENT_ARG...]`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::configs::server_cfg;
use super::files::{TempDir, write_json};
use super::process::{Daemon, binary, free_port};
use super::users::ScratchUser;

/// Label of the daemon's output files (`ilias-chat.stdout`, `ilias-chat.stderr`).
const LABEL: &str = "ilias-chat";

/// Builder for a daemon's configs and command line in a test's [`TempDir`]; see the
/// module documentation.
///
/// ```ignore
/// let d = DaemonSetup::new(&dir)
///     .server_key("log_level", json!("info"))
///     .client(client_cfg("onscreen", "k1", "s1", &db))
///     .scratch_user(&user)
///     .env(notify.env())
///     .spawn();
/// ```
#[must_use]
pub struct DaemonSetup<'a> {
    dir: &'a TempDir,
    server: Value,
    clients: Vec<Value>,
    client_args: Vec<String>,
    user: Option<String>,
    env: Vec<(String, String)>,
}

impl<'a> DaemonSetup<'a> {
    /// [`server_cfg`] on a free port, no client, no `--user`; the state directory (write
    /// journal, snapshot) is `state/` in the test directory, never the system's.
    pub fn new(dir: &'a TempDir) -> Self {
        DaemonSetup {
            dir,
            server: server_cfg(free_port()),
            clients: Vec::new(),
            client_args: Vec::new(),
            user: None,
            env: vec![(
                "STATE_DIRECTORY".to_string(),
                dir.path().join("state").display().to_string(),
            )],
        }
    }

    /// Replaces the whole server.cfg.
    pub fn server_cfg(mut self, cfg: Value) -> Self {
        self.server = cfg;
        self
    }

    /// Sets one key of server.cfg (e.g. `"port"`, `"log"`, `"log_level"`).
    pub fn server_key(mut self, key: &str, value: Value) -> Self {
        self.server[key] = value;
        self
    }

    /// Sets every key of the JSON object `overrides` in server.cfg.
    pub fn server_keys(mut self, overrides: Value) -> Self {
        let Value::Object(keys) = overrides else {
            panic!("server.cfg overrides must be a JSON object, got {overrides}");
        };
        for (k, v) in keys {
            self.server[k] = v;
        }
        self
    }

    /// Adds a client config, written as `client<i>.cfg` in the order of the calls.
    pub fn client(mut self, cfg: Value) -> Self {
        self.clients.push(cfg);
        self
    }

    /// Adds a client argument passed as it is (a directory or a glob) after the
    /// `client<i>.cfg` files.
    pub fn client_arg(mut self, arg: impl Into<String>) -> Self {
        self.client_args.push(arg.into());
        self
    }

    /// `--user NAME`.
    pub fn user(mut self, name: &str) -> Self {
        self.user = Some(name.to_owned());
        self
    }

    /// `--user` the scratch user when there is one ([`super::scratch_user_if_root`]).
    pub fn scratch_user(self, user: &Option<ScratchUser>) -> Self {
        match user {
            Some(u) => self.user(&u.name),
            None => self,
        }
    }

    /// Adds a variable to the daemon's environment (e.g. [`super::systemd::NotifySocket::env`]).
    pub fn env(mut self, var: (String, String)) -> Self {
        self.env.push(var);
        self
    }

    /// The test directory the configs go to.
    pub fn dir(&self) -> &'a TempDir {
        self.dir
    }

    /// The port of server.cfg (a number, or a string as some ILIAS versions write it).
    pub fn port(&self) -> u16 {
        match &self.server["port"] {
            Value::Number(n) => n.as_u64().expect("port") as u16,
            Value::String(s) => s.parse().expect("port"),
            other => panic!("server_cfg has no usable port: {other}"),
        }
    }

    /// server.cfg as it will be written.
    pub fn server(&self) -> &Value {
        &self.server
    }

    /// The `name` of each client config, in command-line order.
    pub fn client_names(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("undefined").to_owned())
            .collect()
    }

    /// `<dir>/server.cfg`.
    pub fn server_cfg_path(&self) -> PathBuf {
        self.dir.join("server.cfg")
    }

    /// `<dir>/client<i>.cfg`.
    pub fn client_cfg_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("client{i}.cfg"))
    }

    /// Writes server.cfg and the client configs; returns the daemon's arguments
    /// `[--user NAME] SERVER_CFG CLIENT_CFG... CLIENT_ARG...`.
    pub fn write(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(u) = &self.user {
            args.extend(["--user".to_owned(), u.clone()]);
        }
        let server = self.server_cfg_path();
        write_json(&server, &self.server);
        args.push(server.display().to_string());
        for (i, c) in self.clients.iter().enumerate() {
            let p = self.client_cfg_path(i);
            write_json(&p, c);
            args.push(p.display().to_string());
        }
        args.extend(self.client_args.iter().cloned());
        args
    }

    /// Writes the configs and starts the daemon in the directory.
    pub fn spawn(&self) -> Daemon {
        let args = self.write();
        Daemon::spawn(LABEL, &binary(), &args, &self.env, self.dir.path())
    }

    /// Writes the configs and starts `program pre_args… ilias-chat args…`: a program that
    /// ends up exec'ing the daemon (`systemd-socket-activate`, `setpriv`).
    pub fn spawn_via(&self, program: &Path, pre_args: &[String]) -> Daemon {
        let args = self.command_line(pre_args);
        Daemon::spawn(LABEL, program, &args, &self.env, self.dir.path())
    }

    /// Like [`DaemonSetup::spawn_via`] with stderr appended to `stderr_path` (a file
    /// whose dev:ino may be announced in `JOURNAL_STREAM`).
    pub fn spawn_via_stderr_to(
        &self,
        program: &Path,
        pre_args: &[String],
        stderr_path: &Path,
    ) -> Daemon {
        let args = self.command_line(pre_args);
        Daemon::spawn_stderr_to(
            LABEL,
            program,
            &args,
            &self.env,
            self.dir.path(),
            stderr_path,
        )
    }

    /// Writes the configs; `pre_args… <binary> args…`.
    fn command_line(&self, pre_args: &[String]) -> Vec<String> {
        let mut all = pre_args.to_vec();
        all.push(binary().display().to_string());
        all.extend(self.write());
        all
    }
}
