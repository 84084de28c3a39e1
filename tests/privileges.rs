//! Dropping root: started as root (not by systemd), the daemon takes its sockets, opens
//! its log files and loads TLS as root, then switches to `--user NAME` (default
//! `onscreenchat`): supplementary groups, gid, uid. These tests need root and FAIL (do
//! not skip) without it; each creates a throwaway system user and deletes it again.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::time::Duration;

use common::systemd::{NotifySocket, spawn_socket_activated};
use common::{
    Daemon, DaemonSetup, ProcIds, Schema, ScratchUser, TempDir, TestDb, client_cfg, eventually,
    expect_http_200, free_port, get, proc_ids, read_lines, require_root, require_tool,
    unreachable_client, v4, wait_http_200,
};
use serde_json::json;

const START: Duration = Duration::from_secs(30);

fn expected_ids(user: &ScratchUser) -> ProcIds {
    ProcIds {
        uid: vec![user.uid; 4],
        gid: vec![user.gid; 4],
        groups: vec![user.gid],
    }
}

/// Waits up to 20 s for a start that must fail: non-zero exit, stderr naming `user`.
async fn expect_failed_start(d: &mut Daemon, user: &str, still_running: &str) {
    let status = d
        .wait_exit(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("{still_running}\n{}", d.logs()));
    assert!(!status.success(), "exit status {status} must be non-zero");
    assert!(
        d.stderr().contains(user),
        "the error message must name the user {user:?}\n{}",
        d.logs()
    );
}

#[tokio::test]
async fn root_start_switches_to_the_user_and_keeps_writing_the_log_opened_as_root() {
    require_root("the daemon drops privileges only when started as root");
    let user = ScratchUser::create();
    let dir = TempDir::new("priv");
    // A root-owned 0755 directory: the user could not create or open the log itself.
    let log_dir = dir.join("logs");
    fs::create_dir(&log_dir).unwrap();
    fs::set_permissions(&log_dir, fs::Permissions::from_mode(0o755)).unwrap();
    let log = log_dir.join("chat.log");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = DaemonSetup::new(&dir)
        .server_key("log", json!(log.display().to_string()))
        .server_key("log_level", json!("debug"))
        .client(client_cfg("onscreen", "k1", "s1", &db))
        .user(&user.name);
    let port = setup.port();
    let notify = NotifySocket::bind(dir.path());
    let mut d = setup.env(notify.env()).spawn();
    if let Err(e) = wait_http_200(v4(port), "/backend/Heartbeat/onscreen", START).await {
        panic!(
            "no Heartbeat ({e})\n{}\nlog:\n{}",
            d.logs(),
            read_lines(&log).join("\n")
        );
    }
    // READY=1 is sent after the switch, so the notify socket must still be reachable.
    notify
        .expect(0, START, &d, "no READY=1 after the privilege drop", |m| {
            m.has("READY", "1")
        })
        .await;
    let ids = proc_ids(d.pid);
    println!(
        "{} ({}:{}) → /proc/{}/status {ids:?}",
        user.name, user.uid, user.gid, d.pid
    );
    assert_eq!(
        ids,
        expected_ids(&user),
        "after the drop Uid/Gid (real, effective, saved, fs) must all be {}:{} and Groups only {}",
        user.uid,
        user.gid,
        user.gid
    );

    // The test means something only if the user could not open the log by itself.
    let meta = fs::metadata(&log).expect("the log file exists");
    assert_eq!(
        meta.uid(),
        0,
        "the log was created by root (before the drop)"
    );
    assert_eq!(meta.mode() & 0o022, 0, "and is not writable for others");
    let dir_meta = fs::metadata(&log_dir).unwrap();
    assert!(dir_meta.uid() == 0 && dir_meta.mode() & 0o022 == 0);

    let before = read_lines(&log).len();
    let hb = get(v4(port), "/backend/Heartbeat/onscreen", None)
        .await
        .unwrap();
    assert_eq!(hb.status, 200);
    let r = get(
        v4(port),
        "/backend/Connect/onscreen/7/4242",
        Some(("k1", "s1")),
    )
    .await
    .unwrap();
    assert_eq!(r.body, r#"{"status":200}"#, "Connect after the drop");
    let grew = eventually(Duration::from_secs(5), || {
        let l = read_lines(&log);
        l.len() > before && l[before..].iter().any(|x| x.contains("4242"))
    })
    .await;
    assert!(
        grew,
        "the log file opened as root must keep receiving records after the drop (a line \
         with user 4242 after line {before}); log:\n{}\n{}",
        read_lines(&log).join("\n"),
        d.logs()
    );

    d.terminate_expecting_exit_0().await;
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn socket_activated_root_start_switches_to_the_user_too() {
    require_root("the daemon drops privileges only when started as root");
    let activate = require_tool("systemd-socket-activate", "systemd");
    let user = ScratchUser::create();
    let dir = TempDir::new("privsa");
    let db = TestDb::create(Schema::Ilias9).await;
    let sock_port = free_port();
    let notify = NotifySocket::bind(dir.path());
    let d = spawn_socket_activated(
        &DaemonSetup::new(&dir)
            .client(client_cfg("onscreen", "k1", "s1", &db))
            .user(&user.name),
        &activate,
        &[v4(sock_port)],
        Some(&notify),
    )
    .await;
    // The first connection makes systemd-socket-activate exec the daemon.
    expect_http_200(
        v4(sock_port),
        "/backend/Heartbeat/onscreen",
        START,
        &d,
        "no Heartbeat on the activated socket",
    )
    .await;
    notify
        .expect(0, START, &d, "no READY=1", |m| m.has("READY", "1"))
        .await;
    assert_eq!(proc_ids(d.pid), expected_ids(&user), "ids after the drop");
    let r = get(
        v4(sock_port),
        "/backend/Connect/onscreen/7/77",
        Some(("k1", "s1")),
    )
    .await
    .unwrap();
    assert_eq!(r.body, r#"{"status":200}"#);
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn a_missing_user_stops_a_root_start_with_a_message_naming_it() {
    require_root("the user is looked up only when started as root");
    let dir = TempDir::new("privmiss");
    let missing = format!("ilchat_nouser_{:06x}", std::process::id());
    let mut d = DaemonSetup::new(&dir)
        .client(unreachable_client("onscreen", "k", "s"))
        .user(&missing)
        .spawn();
    expect_failed_start(
        &mut d,
        &missing,
        &format!("still running with --user {missing} (no such user)"),
    )
    .await;
}

#[tokio::test]
async fn without_user_a_root_start_switches_to_onscreenchat() {
    require_root("the default user matters only when started as root");
    let dir = TempDir::new("privdef");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = DaemonSetup::new(&dir).client(client_cfg("onscreen", "k1", "s1", &db));
    let port = setup.port();
    let mut d = setup.spawn();
    match nix::unistd::User::from_name("onscreenchat").ok().flatten() {
        Some(u) => {
            expect_http_200(
                v4(port),
                "/backend/Heartbeat/onscreen",
                START,
                &d,
                "no Heartbeat",
            )
            .await;
            let ids = proc_ids(d.pid);
            assert_eq!(ids.uid, vec![u.uid.as_raw(); 4], "switched to onscreenchat");
        }
        None => {
            // This host has no onscreenchat (the package creates it): the start must
            // fail and say which user is missing.
            expect_failed_start(
                &mut d,
                "onscreenchat",
                "running as root although onscreenchat does not exist",
            )
            .await;
        }
    }
    drop(d);
    db.drop_db().await;
}

#[tokio::test]
async fn a_non_root_start_ignores_user_and_runs_as_it_is() {
    require_root("the test starts the daemon as another user with setpriv");
    let setpriv = require_tool("setpriv", "util-linux");
    let user = ScratchUser::create();
    let dir = TempDir::new("privnone");
    let db = TestDb::create(Schema::Ilias9).await;
    let setup = DaemonSetup::new(&dir)
        .client(client_cfg("onscreen", "k1", "s1", &db))
        // --user names a user that does not exist: not being root, the daemon must not care.
        .user("ilchat_no_such_user");
    let port = setup.port();
    let d = setup.spawn_via(
        &setpriv,
        &[
            format!("--reuid={}", user.uid),
            format!("--regid={}", user.gid),
            "--clear-groups".into(),
            "--".into(),
        ],
    );
    expect_http_200(
        v4(port),
        "/backend/Heartbeat/onscreen",
        START,
        &d,
        "a non-root start with --user must just run",
    )
    .await;
    let ids = proc_ids(d.pid);
    assert_eq!(ids.uid, vec![user.uid; 4]);
    assert_eq!(ids.gid, vec![user.gid; 4]);
    assert!(ids.groups.is_empty(), "groups unchanged (none): {ids:?}");
    drop(d);
    db.drop_db().await;
}
