//! `"host": "localhost"` in client.cfg means the local MariaDB socket, as it does for
//! PHP's mysqli: proven against a MariaDB user that only allows socket authentication
//! (`IDENTIFIED VIA unix_socket`), which any TCP connection is refused.
//!
//! The MariaDB server is a throwaway mariadbd without networking in a private mount
//! namespace (`unshare -m --propagation private`) with a tmpfs over `/run`, so that its
//! socket is at the standard `/run/mysqld/mysqld.sock` without touching the host's
//! `/run`. `ilias-chat --check --connect` and the daemon run in that namespace
//! (`nsenter`), switching to a throwaway system user that is also the MariaDB user.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Daemon, DaemonSetup, ScratchUser, TempDir, is_root, require_root, require_tool, run_tool,
    split_sql, v4, wait_http_200,
};
use serde_json::json;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};

const STANDARD_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// A file only the namespace's /run has: until it shows, `/proc/<pid>/root/run` is still
/// the host's /run, whose socket belongs to another server.
const NS_MARKER: &str = "ilias-chat-test-namespace";

/// mariadbd alone in a fresh mount namespace, its socket at the standard path there.
struct MariadbNs {
    mariadbd: Daemon,
    nsenter: PathBuf,
}

impl MariadbNs {
    fn start(dir: &TempDir) -> MariadbNs {
        let unshare = require_tool("unshare", "util-linux");
        let nsenter = require_tool("nsenter", "util-linux");
        let install = require_tool("mariadb-install-db", "mariadb-server");
        let mariadbd = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| require_tool("mariadbd", "mariadb-server"));
        let data = dir.join("data");
        let (status, out, err) = run_tool(
            Command::new(install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args([
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ]),
            Duration::from_secs(120),
        );
        assert!(status.success(), "mariadb-install-db: {out}{err}");
        // `mount -n`: do not record the mount in the host's /run/mount/utab.
        let script = format!(
            "set -e\n\
             mount -n -t tmpfs -o mode=0755 tmpfs /run\n\
             mkdir -p /run/mysqld\n\
             touch /run/{NS_MARKER}\n\
             exec {} --no-defaults --user=root --datadir={} --socket={STANDARD_SOCKET} \
             --pid-file={} --skip-networking --skip-log-bin --innodb-buffer-pool-size=16M \
             --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci\n",
            mariadbd.display(),
            data.display(),
            dir.join("mysqld.pid").display()
        );
        let mariadbd = Daemon::spawn(
            "mariadbd",
            &unshare,
            &[
                "-m".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                script,
            ],
            &[],
            dir.path(),
        );
        MariadbNs { mariadbd, nsenter }
    }

    /// The namespace's socket, seen from outside.
    fn socket_outside(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{STANDARD_SOCKET}", self.mariadbd.pid))
    }

    /// Root's connection through the socket, once our server answers there.
    async fn admin(&mut self, data: &std::path::Path) -> sqlx::MySqlConnection {
        let deadline = Instant::now() + Duration::from_secs(60);
        let marker = PathBuf::from(format!("/proc/{}/root/run/{NS_MARKER}", self.mariadbd.pid));
        loop {
            let options = MySqlConnectOptions::new()
                .socket(self.socket_outside())
                .username("root")
                .charset("utf8mb4");
            if marker.exists()
                && let Ok(mut conn) = options.connect().await
            {
                // Never anything but our own server.
                let datadir: String = sqlx::query_scalar("SELECT @@datadir")
                    .fetch_one(&mut conn)
                    .await
                    .expect("@@datadir");
                assert_eq!(
                    datadir.trim_end_matches('/'),
                    data.display().to_string(),
                    "the socket belongs to another server"
                );
                return conn;
            }
            if let Some(status) = self.mariadbd.try_wait() {
                panic!("mariadbd exited ({status})\n{}", self.mariadbd.logs());
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not answer\n{}",
                self.mariadbd.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn ns_args(&self) -> Vec<String> {
        vec![
            "-t".into(),
            self.mariadbd.pid.to_string(),
            "-m".into(),
            "--".into(),
        ]
    }
}

async fn exec(conn: &mut sqlx::MySqlConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_connects_over_the_standard_socket_with_socket_authentication() {
    require_root("a mount namespace, a throwaway mariadbd and a system user need root");
    assert!(is_root());
    let user = ScratchUser::create();
    let dir = TempDir::new("dbsock");
    let mut ns = MariadbNs::start(&dir);
    let mut admin = ns.admin(&dir.join("data")).await;
    exec(&mut admin, "CREATE DATABASE chat CHARACTER SET utf8mb4").await;
    // Only socket authentication: the OS user of the connecting process must be this
    // user; TCP from 127.0.0.1 is refused whatever the password.
    exec(
        &mut admin,
        &format!(
            "CREATE USER '{0}'@'localhost' IDENTIFIED VIA unix_socket",
            user.name
        ),
    )
    .await;
    exec(
        &mut admin,
        &format!("GRANT ALL ON chat.* TO '{}'@'localhost'", user.name),
    )
    .await;
    exec(&mut admin, "USE chat").await;
    for statement in split_sql(common::Schema::Ilias9.sql()) {
        exec(&mut admin, &statement).await;
    }
    let _ = admin.close().await;

    // client.cfg as ILIAS writes it for a local database.
    let client = json!({
        "name": "onscreen",
        "auth": {"key": "k", "secret": "s"},
        "database": {"type": "mysql", "host": "localhost", "port": 3306, "name": "chat",
                     "user": user.name, "pass": ""},
    });
    let setup = DaemonSetup::new(&dir).client(client).user(&user.name);
    let args = setup.write();
    let configs: Vec<String> = args[2..].to_vec();

    // --check --connect, as the service user, over the socket.
    let (status, out, err) = run_tool(
        Command::new(&ns.nsenter)
            .args(ns.ns_args())
            .arg(common::binary())
            .args(["--check", "--connect", "--user", &user.name])
            .args(&configs),
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert_eq!(
        out.lines().last(),
        Some(
            format!(
                "client onscreen ({}): database mysql://{}@localhost:3306/chat reachable over \
                 unix socket {STANDARD_SOCKET}, ILIAS 9 (detected: chat tables \
                 (chatroom_smilies present; no settings ilias_version)), chat tables complete",
                configs[1], user.name
            )
            .as_str()
        ),
        "{out}{err}"
    );

    // The daemon, switching to the service user: connected, and the log says how.
    let port = setup.port();
    let mut daemon = setup.spawn_via(&ns.nsenter, &ns.ns_args());
    wait_http_200(
        v4(port),
        "/backend/Heartbeat/onscreen",
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", daemon.logs()));
    let connected = common::eventually(Duration::from_secs(20), || {
        daemon.stderr().contains(&format!(
            "database connected over unix socket {STANDARD_SOCKET}"
        ))
    })
    .await;
    assert!(connected, "{}", daemon.logs());
    let (_, _, body) = common::http_get(port, "/backend/Status/onscreen", Some(("k", "s"))).await;
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["database"]["state"], "connected", "{body}");
    assert_eq!(
        status["database"]["route"],
        format!("unix socket {STANDARD_SOCKET}")
    );
    daemon.terminate_expecting_exit_0().await;
    drop(daemon);
    drop(ns);
    drop(user);
    // The TempDir goes last (mariadbd's data directory).
    drop(dir);
}
