//! `ilias-chat --check` tells the truth: it reports every broken file (not only the
//! first), checks as root what the service user can read, warns about client files
//! every user can read, and with `--connect` connects to every database and checks the
//! chat tables. Each case asserts the exact lines and the exit status.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Schema, ScratchUser, TempDir, TestDb, binary, client_cfg, server_cfg, write_json};
use serde_json::json;

const EX_UNAVAILABLE: i32 = 69;
const EX_CONFIG: i32 = 78;

fn check(args: &[&str], files: &[&Path]) -> Output {
    Command::new(binary())
        .arg("--check")
        .args(args)
        .args(files)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(bytes: &[u8]) -> Vec<String> {
    text(bytes).lines().map(str::to_owned).collect()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// server.cfg and a valid client.cfg (0640) in `dir`.
fn valid_files(dir: &TempDir, db: Option<&TestDb>) -> (PathBuf, PathBuf) {
    let server = dir.join("server.cfg");
    write_json(&server, &server_cfg(8585));
    let client = dir.join("client.cfg");
    let config = match db {
        Some(db) => client_cfg("onscreen", "k", "s", db),
        None => json!({"name": "onscreen", "auth": {"key": "k", "secret": "s"},
                       "database": {"type": "mysql", "host": "127.0.0.1", "port": 3306,
                                    "name": "ilias", "user": "ilias", "pass": "x"}}),
    };
    write_json(&client, &config);
    chmod(&client, 0o640);
    (server, client)
}

#[test]
fn every_broken_file_is_reported() {
    let dir = TempDir::new("check");
    let (server, client) = valid_files(&dir, None);
    let bad_port = dir.join("bad-port.cfg");
    write_json(
        &bad_port,
        &json!({"name": "two", "auth": {"key": "k", "secret": "s"},
                "database": {"type": "mysql", "host": "db", "port": "80a", "name": "n",
                             "user": "u", "pass": ""}}),
    );
    let bad_json = dir.join("bad-json.cfg");
    std::fs::write(&bad_json, "{\"name\": \"three\",\n").expect("write");
    for file in [&bad_port, &bad_json] {
        chmod(file, 0o640);
    }
    let out = check(
        &["--user", "root"],
        &[&server, &bad_port, &client, &bad_json],
    );
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        [
            format!(
                "ilias-chat: {}: database.port: \"80a\" is not a number",
                bad_port.display()
            ),
            format!(
                "ilias-chat: {}: not valid JSON: EOF while parsing a value at line 2 column 0",
                bad_json.display()
            ),
        ]
    );
    // The valid files are still summarised.
    let stdout = lines(&out.stdout);
    assert_eq!(stdout.len(), 2, "{stdout:?}");
    assert!(stdout[0].starts_with(&format!("server {}: ", server.display())));
    assert!(stdout[1].starts_with(&format!("client {}: \"onscreen\"", client.display())));
}

#[test]
fn a_client_file_everyone_can_read_is_a_warning() {
    let dir = TempDir::new("check");
    let (server, client) = valid_files(&dir, None);
    chmod(&client, 0o644);
    let out = check(&["--user", "root"], &[&server, &client]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        [format!(
            "ilias-chat: warning: {0}: readable by every user of this host (mode 0644); it \
             holds the database password and the API secret: chmod o-r {0}",
            client.display()
        )]
    );
    assert_eq!(lines(&out.stdout).len(), 2);
}

#[test]
fn as_root_a_file_the_service_user_cannot_read_is_an_error() {
    common::require_root("checking as the service user switches to it");
    let user = ScratchUser::create();
    let dir = TempDir::new("check");
    chmod(dir.path(), 0o755);
    let (server, client) = valid_files(&dir, None);
    // Root can read it (so the old check passed it); the service user cannot.
    chmod(&client, 0o600);
    let out = check(&["--user", &user.name], &[&server, &client]);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        [format!(
            "ilias-chat: {}: the service user {} cannot read it: Permission denied (os error \
             13) (the service reads it at start and on every reload)",
            client.display(),
            user.name
        )]
    );
    // Readable by the service user's group: fine.
    std::os::unix::fs::chown(&client, None, Some(user.gid)).expect("chown");
    chmod(&client, 0o640);
    let out = check(&["--user", &user.name], &[&server, &client]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(
        lines(&out.stdout).last().map(String::as_str),
        Some(
            format!(
                "the service user {} can read every file the service reads",
                user.name
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn connect_checks_the_database_and_its_chat_tables() {
    let db = TestDb::create(Schema::Ilias9).await;
    let dir = TempDir::new("check");
    let (server, client) = valid_files(&dir, Some(&db));
    let out = check(&["--user", "root", "--connect"], &[&server, &client]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = lines(&out.stdout);
    assert_eq!(
        stdout.last().map(String::as_str),
        Some(
            format!(
                "client onscreen ({}): database mysql://{}@{}:{}/{} reachable over TCP {}:{}, \
                 ILIAS 9 (detected: chat tables (chatroom_smilies present; no settings \
                 ilias_version)), chat tables complete",
                client.display(),
                db.user,
                db.host,
                db.port,
                db.name,
                db.host,
                db.port
            )
            .as_str()
        ),
        "{stdout:?}"
    );

    // A column the server writes is gone: the database is not usable for the chat.
    db.exec("ALTER TABLE osc_activity DROP COLUMN is_closed;")
        .await;
    let out = check(&["--user", "root", "--connect"], &[&server, &client]);
    assert_eq!(
        out.status.code(),
        Some(EX_UNAVAILABLE),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        lines(&out.stderr),
        [format!(
            "ilias-chat: client onscreen ({}): database mysql://{}@{}:{}/{} (ILIAS 9): table \
             osc_activity lacks the column is_closed",
            client.display(),
            db.user,
            db.host,
            db.port,
            db.name
        )]
    );
    db.drop_db().await;
}

#[test]
fn connect_reports_an_unreachable_database() {
    let dir = TempDir::new("check");
    let server = dir.join("server.cfg");
    write_json(&server, &server_cfg(8585));
    let client = dir.join("client.cfg");
    let port = common::free_port();
    write_json(
        &client,
        &json!({"name": "gone", "auth": {"key": "k", "secret": "s"},
                "database": {"type": "mysql", "host": "127.0.0.1", "port": port,
                             "name": "ilias", "user": "ilias", "pass": "x"}}),
    );
    chmod(&client, 0o640);
    let out = check(&["--user", "root", "--connect"], &[&server, &client]);
    assert_eq!(
        out.status.code(),
        Some(EX_UNAVAILABLE),
        "{}",
        text(&out.stderr)
    );
    let stderr = lines(&out.stderr);
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    let expected = format!(
        "ilias-chat: client gone ({}): cannot connect to mysql://ilias@127.0.0.1:{port}/ilias: ",
        client.display()
    );
    assert!(stderr[0].starts_with(&expected), "{stderr:?}");
    assert!(
        stderr[0].ends_with(&format!("(over TCP 127.0.0.1:{port})")),
        "{stderr:?}"
    );
    // The configuration itself is fine: its summary is there.
    assert_eq!(lines(&out.stdout).len(), 2);
}
