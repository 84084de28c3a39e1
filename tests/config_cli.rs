//! `ilias-chat --check SERVER_CFG CLIENT_CFG...` against the fixture files: one summary
//! line per valid file on stdout and exit 0, or in addition `ilias-chat: FILE: KEY:
//! PROBLEM` on stderr for each broken one and exit 78 (`EX_CONFIG`), or a usage message
//! for a wrong command line, never a panic. `--user root` keeps the check of what the
//! service user can read (tests/check.rs) out of these.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `EX_CONFIG` from sysexits.h.
const EX_CONFIG: i32 = 78;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// Runs the binary from the crate root (the https fixture names its certificate
/// relative to it). `RUST_BACKTRACE` is set so that a panic would be plainly visible.
fn run(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ilias-chat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

fn check(files: &[PathBuf]) -> Output {
    let mut args: Vec<&Path> = vec![Path::new("--check"), Path::new("--user"), Path::new("root")];
    args.extend(files.iter().map(PathBuf::as_path));
    run(&args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a config error: exit 78, the summaries of the `valid` files on stdout, and
/// exactly one error, `ilias-chat: <message>`, on stderr (the fixture client files are
/// readable by everyone, so warnings about that may come too).
fn assert_config_error(output: &Output, valid: usize, message: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(EX_CONFIG), "stderr: {stderr}");
    assert_eq!(
        text(&output.stdout).lines().count(),
        valid,
        "{}",
        text(&output.stdout)
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("ilias-chat: warning: "))
        .collect();
    assert_eq!(errors, [format!("ilias-chat: {message}")], "{stderr}");
}

fn assert_no_panic(stderr: &str) {
    for sign in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(sign), "{sign:?} in stderr: {stderr}");
    }
}

#[test]
fn check_prints_one_line_per_file() {
    let files = [
        fixture("server.cfg"),
        fixture("client.cfg"),
        fixture("client-second.cfg"),
    ];
    let output = check(&files);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "server {}: http://127.0.0.1:8585, socket.io at /servers/chat/socket.io, \
                 log level info, logging to /var/www/ilias/data/chat.log, \
                 errors to /var/www/ilias/data/chat_errors.log, \
                 purge messages older than 3 months daily at 03:00",
                files[0].display()
            ),
            format!(
                "client {}: \"onscreen\" → namespaces /onscreen and /onscreen-im, \
                 database mysql://ilias@localhost:3306/ilias, \
                 ILIAS version detected from the database at start-up \
                 (settings ilias_version, else the chat tables)",
                files[1].display()
            ),
            format!(
                "client {}: \"campus\" → namespaces /campus and /campus-im, \
                 database mysql://ilias_campus@unix:/run/mysqld/mysqld.sock/ilias_campus, \
                 ILIAS version detected from the database at start-up \
                 (settings ilias_version, else the chat tables)",
                files[2].display()
            ),
        ]
    );
    // Neither the database password nor the auth secret is ever printed.
    for secret in ["Zw8#kq!3/p", "c3a9e7f2-16d4-4b8e-a5f0-7e2d91b06c38"] {
        assert!(!stdout.contains(secret), "{stdout}");
    }
}

#[test]
fn check_accepts_the_server_variants() {
    for (server, start) in [
        ("server-log0.cfg", "http://chat.example.org:8888,"),
        ("server-https.cfg", "https://chat.example.org:8443 (cert "),
    ] {
        let output = check(&[fixture(server), fixture("client.cfg")]);
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{server}: {}",
            text(&output.stderr)
        );
        assert_eq!(stdout.lines().count(), 2, "{stdout}");
        let expected = format!("server {}: {start}", fixture(server).display());
        assert!(stdout.starts_with(&expected), "{stdout}");
    }
}

#[test]
fn broken_client_file_names_file_and_key() {
    let broken = fixture("invalid/client-bad-port.cfg");
    let output = check(&[fixture("server.cfg"), fixture("client.cfg"), broken.clone()]);
    assert_config_error(
        &output,
        2,
        &format!(
            "{}: database.port: \"80a\" is not a number",
            broken.display()
        ),
    );
}

#[test]
fn broken_server_file_gives_line_and_column() {
    let broken = fixture("invalid/server-syntax.cfg");
    let output = check(&[broken.clone(), fixture("client.cfg")]);
    assert_config_error(
        &output,
        1,
        &format!(
            "{}: not valid JSON: expected `,` or `}}` at line 5 column 5",
            broken.display()
        ),
    );
}

#[test]
fn duplicate_names_are_rejected() {
    let first = fixture("client.cfg");
    let second = fixture("invalid/client-duplicate-name.cfg");
    let output = check(&[fixture("server.cfg"), first.clone(), second.clone()]);
    assert_config_error(
        &output,
        3,
        &format!(
            "{}: name: \"onscreen\" is already used by {}",
            second.display(),
            first.display()
        ),
    );
}

#[test]
fn missing_file_is_a_config_error() {
    let missing = fixture("does-not-exist.cfg");
    let output = check(&[fixture("server.cfg"), missing.clone()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(
        stderr.starts_with(&format!("ilias-chat: {}: cannot read: ", missing.display())),
        "{stderr}"
    );
}

#[test]
fn missing_arguments_print_usage() {
    let server = fixture("server.cfg");
    let cases: [&[&Path]; 4] = [
        &[],
        &[Path::new("--check")],
        &[server.as_path()],
        &[Path::new("--check"), server.as_path()],
    ];
    for args in cases {
        let output = run(args);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_ne!(output.status.code(), None, "{args:?} killed by a signal");
        assert!(stderr.contains("Usage"), "{args:?}: no usage in {stderr}");
        assert_no_panic(&stderr);
        assert_eq!(text(&output.stdout), "", "{args:?}");
    }
}
