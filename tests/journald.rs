//! Logging: the native journal protocol (when stderr is the journal stream) and the log
//! files of server.cfg.
//!
//! Journal tests run a real `systemd-journald` in a private mount namespace (`unshare -m
//! --propagation private`) with tmpfs over `/run` (so `/run/systemd/journal/socket` and
//! `/run/log/journal` are ours) and over `/var/log/journal`; the daemon is started in
//! that namespace with `nsenter`, its stderr redirected to a file and `JOURNAL_STREAM`
//! set to that file's `dev:ino`, exactly what systemd does. `journalctl -o json` then
//! shows what arrived. Nothing touches the host's journal.
//!
//! Log file tests check the line format `<RFC 3339 UTC> <LEVEL> <message> key=value…`,
//! that `error_log` gets only errors, `log_level` filtering, and reopening after a
//! logrotate-style move on SIGHUP.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::systemd::JOURNALD;
use common::{
    Daemon, DaemonSetup, Schema, ScratchUser, TempDir, TestDb, client_cfg, eventually,
    expect_http_200, free_port, get, read_lines, require_root, require_tool, run_tool,
    scratch_user_if_root, v4, write_json,
};
use nix::sys::signal::Signal;
use serde_json::{Map, Value, json};

const START: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// A journald of our own
// ---------------------------------------------------------------------------

/// `systemd-journald` running alone in a fresh mount namespace.
struct JournalNs {
    journald: Daemon,
    nsenter: PathBuf,
    journalctl: PathBuf,
}

impl JournalNs {
    fn start(dir: &TempDir) -> JournalNs {
        require_root("mount namespaces and a private systemd-journald need root");
        let unshare = require_tool("unshare", "util-linux");
        let nsenter = require_tool("nsenter", "util-linux");
        let journalctl = require_tool("journalctl", "systemd");
        require_tool(JOURNALD, "systemd");
        // `mount -n`: do not record the mounts in the host's /run/mount/utab.
        let script = format!(
            "set -e\n\
             mount -n -t tmpfs -o mode=0755 tmpfs /run\n\
             mkdir -p /run/systemd/journal /run/log/journal\n\
             if [ -d /var/log/journal ]; then mount -n -t tmpfs -o mode=2755 tmpfs /var/log/journal; fi\n\
             exec {JOURNALD}\n"
        );
        let journald = Daemon::spawn(
            "journald",
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
        // The namespace's view of the file system, from outside.
        let socket = PathBuf::from(format!(
            "/proc/{}/root/run/systemd/journal/socket",
            journald.pid
        ));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the private systemd-journald did not create {} within 15 s\n{}",
                socket.display(),
                journald.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        JournalNs {
            journald,
            nsenter,
            journalctl,
        }
    }

    fn ns_args(&self) -> Vec<String> {
        vec![
            "-t".into(),
            self.journald.pid.to_string(),
            "-m".into(),
            "--".into(),
        ]
    }

    /// Starts the daemon of `setup` inside the namespace (nsenter exec's it: same pid)
    /// with stderr appended to `stderr_path`.
    fn spawn(&self, setup: DaemonSetup<'_>, stderr_path: &Path) -> Daemon {
        setup.spawn_via_stderr_to(&self.nsenter, &self.ns_args(), stderr_path)
    }

    /// Starts the scenario's daemon with stderr going to `<dir>/stderr.journal`, the file
    /// `JOURNAL_STREAM` names (so it logs to the journal); returns it and that file.
    fn spawn_journaled(&self, sc: &Scenario) -> (Daemon, PathBuf) {
        let stderr = sc.dir.join("stderr.journal");
        fs::write(&stderr, "").unwrap();
        let env = ("JOURNAL_STREAM".to_string(), dev_ino(&stderr));
        let d = self.spawn(sc.setup().env(env), &stderr);
        (d, stderr)
    }

    fn run(&self, program: &Path, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        run_tool(
            Command::new(&self.nsenter)
                .args(self.ns_args())
                .arg(program)
                .args(args),
            Duration::from_secs(60),
        )
    }

    /// Every entry of the journal as JSON objects (after `journalctl --sync`).
    fn entries(&self, filter: &[&str]) -> Vec<Map<String, Value>> {
        let (st, _, err) = self.run(&self.journalctl, &["--sync"]);
        assert!(st.success(), "journalctl --sync: {err}");
        let mut args = vec!["-o", "json", "--no-pager", "--all"];
        args.extend_from_slice(filter);
        let (st, out, err) = self.run(&self.journalctl, &args);
        // journalctl exits 1 with "-- No entries --" on an empty result.
        assert!(
            st.success() || out.trim().is_empty(),
            "journalctl {args:?}: {st}\n{err}"
        );
        out.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(Value::Object(m)) => m,
                other => panic!("journalctl -o json line {l:?}: {other:?}"),
            })
            .collect()
    }
}

impl JournalNs {
    /// The journal entries of `ilias-chat` with process id `pid`.
    fn entries_of(&self, pid: &str) -> Vec<Map<String, Value>> {
        self.entries(&["-t", "ilias-chat"])
            .into_iter()
            .filter(|e| field(e, "_PID").as_deref() == Some(pid))
            .collect()
    }
}

/// A string field of a journal entry (binary fields come as byte arrays).
fn field(e: &Map<String, Value>, k: &str) -> Option<String> {
    match e.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(bytes) => Some(
            String::from_utf8_lossy(
                &bytes
                    .iter()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect::<Vec<u8>>(),
            )
            .into_owned(),
        ),
        other => Some(other.to_string()),
    }
}

fn show(entries: &[Map<String, Value>]) -> String {
    entries
        .iter()
        .map(|e| {
            let mut keys: Vec<String> = e
                .keys()
                .filter(|k| {
                    !k.starts_with("__") && !k.starts_with("_") || *k == "_PID" || *k == "_UID"
                })
                .map(|k| format!("{k}={}", field(e, k).unwrap_or_default()))
                .collect();
            keys.sort();
            format!("  {}", keys.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dev:ino` of a file, as systemd writes `JOURNAL_STREAM`.
fn dev_ino(path: &Path) -> String {
    let m = fs::metadata(path).unwrap();
    format!("{}:{}", m.dev(), m.ino())
}

/// A client whose database exists but has no `chatroom_settings`: loading its rooms is an
/// error-level record.
async fn broken_db() -> TestDb {
    let db = TestDb::create(Schema::Ilias9).await;
    db.exec("DROP TABLE chatroom_settings;").await;
    db
}

/// server.cfg (with `overrides`) and two clients: `onscreen` (working database, key
/// k1/s1) and `broken` (no chatroom_settings table).
struct Scenario {
    dir: TempDir,
    port: u16,
    user: Option<String>,
    overrides: Value,
    good: TestDb,
    broken: TestDb,
}

async fn scenario(prefix: &str, user: &Option<ScratchUser>, overrides: Value) -> Scenario {
    Scenario {
        dir: TempDir::new(prefix),
        port: free_port(),
        user: user.as_ref().map(|u| u.name.clone()),
        overrides,
        good: TestDb::create(Schema::Ilias9).await,
        broken: broken_db().await,
    }
}

impl Scenario {
    /// The daemon's configs, written when it is started.
    fn setup(&self) -> DaemonSetup<'_> {
        let setup = DaemonSetup::new(&self.dir)
            .server_key("port", json!(self.port))
            .server_keys(self.overrides.clone())
            .client(client_cfg("onscreen", "k1", "s1", &self.good))
            .client(client_cfg("broken", "k2", "s2", &self.broken));
        match &self.user {
            Some(u) => setup.user(u),
            None => setup,
        }
    }

    async fn drop_dbs(self) {
        for db in [self.good, self.broken] {
            db.drop_db().await;
        }
    }
}

/// Heartbeat, an authenticated Connect of `user` (an info record with CLIENT and USER),
/// and a Connect with a wrong secret (a warning).
async fn traffic(port: u16, user: u32, d: &Daemon) {
    expect_http_200(
        v4(port),
        "/backend/Heartbeat/onscreen",
        START,
        d,
        "the daemon did not answer Heartbeat",
    )
    .await;
    let ok = get(
        v4(port),
        &format!("/backend/Connect/onscreen/7/{user}"),
        Some(("k1", "s1")),
    )
    .await
    .unwrap();
    assert_eq!(ok.body, r#"{"status":200}"#, "Connect\n{}", d.logs());
    let denied = get(
        v4(port),
        "/backend/Connect/onscreen/7/99",
        Some(("k1", "wrong")),
    )
    .await
    .unwrap();
    assert_eq!(denied.body, r#"{"status":403,"message":"Access denied"}"#);
}

#[tokio::test]
async fn journal_gets_priorities_identifier_and_structured_fields() {
    let user = scratch_user_if_root();
    let sc = scenario("jrnl", &user, json!({"log_level": "debug"})).await;
    let ns = JournalNs::start(&sc.dir);
    let (mut d, stderr) = ns.spawn_journaled(&sc);
    traffic(sc.port, 42, &d).await;
    // Wait for the error of the broken client (its rooms cannot be loaded).
    tokio::time::sleep(Duration::from_secs(1)).await;
    d.terminate_expecting_exit_0().await;

    let pid = d.pid.to_string();
    let entries = ns.entries_of(&pid);
    let dump = show(&entries);
    println!("{} journal entries of pid {pid}:\n{dump}", entries.len());
    assert!(
        !entries.is_empty(),
        "nothing in the journal from pid {pid} (JOURNAL_STREAM matched stderr)\n{}",
        d.logs()
    );
    for e in &entries {
        assert_eq!(field(e, "SYSLOG_IDENTIFIER").as_deref(), Some("ilias-chat"));
        let p = field(e, "PRIORITY").unwrap_or_default();
        assert!(
            ["3", "4", "6", "7"].contains(&p.as_str()),
            "PRIORITY must be 3 (error), 4 (warn), 6 (info) or 7 (debug/trace), got {p}:\n{dump}"
        );
        let prefixed: Vec<&String> = e.keys().filter(|k| k.starts_with("F_")).collect();
        assert!(
            prefixed.is_empty(),
            "fields must not be prefixed: {prefixed:?}"
        );
    }
    let find = |pred: &dyn Fn(&Map<String, Value>) -> bool| entries.iter().find(|e| pred(e));
    let info = find(&|e| {
        field(e, "CLIENT").as_deref() == Some("onscreen")
            && field(e, "USER").as_deref() == Some("42")
    })
    .unwrap_or_else(|| panic!("no entry with CLIENT=onscreen USER=42 (the Connect):\n{dump}"));
    assert_eq!(
        field(info, "PRIORITY").as_deref(),
        Some("6"),
        "info → PRIORITY=6"
    );
    if let Some(u) = &user {
        assert_eq!(
            field(info, "_UID"),
            Some(u.uid.to_string()),
            "records after the start are sent by the dropped user"
        );
    }
    assert!(
        find(&|e| field(e, "CLIENT").as_deref() == Some("onscreen")
            && field(e, "PRIORITY").as_deref() == Some("4"))
        .is_some(),
        "no PRIORITY=4 entry with CLIENT=onscreen (the wrong secret):\n{dump}"
    );
    assert!(
        find(&|e| field(e, "PRIORITY").as_deref() == Some("7")).is_some(),
        "log_level debug: no PRIORITY=7 entry:\n{dump}"
    );
    assert!(
        find(&|e| field(e, "CLIENT").as_deref() == Some("broken")
            && field(e, "PRIORITY").as_deref() == Some("3"))
        .is_some(),
        "no PRIORITY=3 entry with CLIENT=broken (its chatroom_settings table is missing):\n{dump}"
    );
    let err = fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        !err.contains("INFO") && !err.contains("WARN"),
        "records go to the journal, not (also) to stderr:\n{err}"
    );
    drop(d);
    drop(ns);
    sc.drop_dbs().await;
}

#[tokio::test]
async fn journal_log_level_warning_drops_info_and_debug() {
    let user = scratch_user_if_root();
    let sc = scenario("jrnlw", &user, json!({"log_level": "warning"})).await;
    let ns = JournalNs::start(&sc.dir);
    let (mut d, _) = ns.spawn_journaled(&sc);
    traffic(sc.port, 42, &d).await;
    d.terminate_expecting_exit_0().await;
    let entries = ns.entries_of(&d.pid.to_string());
    let dump = show(&entries);
    assert!(
        entries
            .iter()
            .any(|e| field(e, "PRIORITY").as_deref() == Some("4")),
        "the wrong secret must still be logged (PRIORITY=4) at log_level warning:\n{dump}\n{}",
        d.logs()
    );
    let chatty: Vec<_> = entries
        .iter()
        .filter(|e| matches!(field(e, "PRIORITY").as_deref(), Some("5" | "6" | "7")))
        .collect();
    assert!(
        chatty.is_empty(),
        "log_level warning: no info/debug entries expected, got:\n{}",
        show(&chatty.into_iter().cloned().collect::<Vec<_>>())
    );
    drop(d);
    drop(ns);
    sc.drop_dbs().await;
}

#[tokio::test]
async fn nothing_goes_to_the_journal_when_journal_stream_does_not_match() {
    let user = scratch_user_if_root();
    let sc = scenario("jrnln", &user, json!({"log_level": "info"})).await;
    let ns = JournalNs::start(&sc.dir);
    let stderr = sc.dir.join("stderr.log");
    let other = sc.dir.join("not-stderr");
    fs::write(&stderr, "").unwrap();
    fs::write(&other, "").unwrap();
    // The journal socket is there, but JOURNAL_STREAM names another file.
    let env = ("JOURNAL_STREAM".to_string(), dev_ino(&other));
    let mut d = ns.spawn(sc.setup().env(env), &stderr);
    traffic(sc.port, 42, &d).await;
    d.terminate_expecting_exit_0().await;
    // Control: the private journal does work.
    let cat = require_tool("systemd-cat", "systemd");
    let (st, _, err) = ns.run(&cat, &["-t", "ilias-chat-control", "echo", "control"]);
    assert!(st.success(), "systemd-cat: {err}");
    let pid = d.pid.to_string();
    let all = ns.entries(&[]);
    assert!(
        all.iter()
            .any(|e| field(e, "SYSLOG_IDENTIFIER").as_deref() == Some("ilias-chat-control")),
        "control entry missing: the private journald does not work"
    );
    let ours: Vec<_> = all
        .iter()
        .filter(|e| {
            field(e, "_PID").as_deref() == Some(pid.as_str())
                || field(e, "SYSLOG_IDENTIFIER").as_deref() == Some("ilias-chat")
        })
        .cloned()
        .collect();
    assert!(
        ours.is_empty(),
        "JOURNAL_STREAM does not match stderr, yet the daemon wrote to the journal:\n{}",
        show(&ours)
    );
    let err = fs::read_to_string(&stderr).unwrap();
    assert!(
        err.contains("INFO") && err.contains("42"),
        "the records go to stderr instead:\n{err}"
    );
    drop(d);
    drop(ns);
    sc.drop_dbs().await;
}

// ---------------------------------------------------------------------------
// Log files
// ---------------------------------------------------------------------------

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00)`; `None` if the text
/// is not an RFC 3339 UTC timestamp.
fn rfc3339_utc(ts: &str) -> Option<i64> {
    let rest = ts.strip_suffix('Z').or_else(|| ts.strip_suffix("+00:00"))?;
    let (date, time) = rest.split_once('T')?;
    let d: Vec<&str> = date.split('-').collect();
    let time = time.split('.').collect::<Vec<_>>();
    if time.len() > 2
        || time
            .get(1)
            .is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let t: Vec<&str> = time[0].split(':').collect();
    if d.len() != 3 || t.len() != 3 || d[0].len() != 4 || d[1].len() != 2 || d[2].len() != 2 {
        return None;
    }
    let n = |s: &str| -> Option<i64> {
        (s.len() == 2 || s.len() == 4)
            .then(|| s.parse().ok())
            .flatten()
    };
    let days = days_from_civil(n(d[0])?, n(d[1])?, n(d[2])?);
    Some(days * 86400 + n(t[0])? * 3600 + n(t[1])? * 60 + n(t[2])?)
}

#[test]
fn timestamp_parser() {
    assert_eq!(rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(rfc3339_utc("2000-03-01T00:00:01.123456Z"), Some(951868801));
    assert_eq!(rfc3339_utc("2000-03-01T00:00:01+01:00"), None);
    assert_eq!(rfc3339_utc("Tue Mar 05 2024"), None);
}

/// (timestamp, LEVEL, rest) of a log line, or a description of what is wrong.
fn parse_line(line: &str) -> Result<(i64, String, String), String> {
    let mut it = line.split_whitespace();
    let ts = it.next().ok_or("empty line")?;
    let secs =
        rfc3339_utc(ts).ok_or_else(|| format!("no RFC 3339 UTC timestamp first: {line:?}"))?;
    let level = it.next().ok_or_else(|| format!("no level: {line:?}"))?;
    if !LEVELS.contains(&level) {
        return Err(format!(
            "no LEVEL ({LEVELS:?}) after the timestamp: {line:?}"
        ));
    }
    let rest: Vec<&str> = it.collect();
    if rest.is_empty() {
        return Err(format!("no message: {line:?}"));
    }
    Ok((secs, level.to_owned(), rest.join(" ")))
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A log directory the daemon can still create files in after dropping to `user`
/// (what `LogsDirectory=` gives under systemd).
fn log_dir(dir: &TempDir, user: &Option<ScratchUser>) -> PathBuf {
    let p = dir.join("logs");
    fs::create_dir(&p).unwrap();
    if let Some(u) = user {
        std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid)).unwrap();
    }
    p
}

/// Whether `rest` (message and fields of a line) has the field `key=value`; a quoted
/// value (`key="value"`, logfmt style) counts too.
fn has_kv(rest: &str, key: &str, value: &str) -> bool {
    let plain = format!("{key}={value}");
    let quoted = format!("{key}=\"{value}\"");
    rest.split_whitespace().any(|t| t == plain || t == quoted)
}

/// A line of `level` with every `key=value` of `fields`.
fn has_line(lines: &[String], level: &str, fields: &[(&str, &str)]) -> bool {
    lines.iter().any(|l| {
        parse_line(l).is_ok_and(|(_, lv, rest)| {
            lv == level && fields.iter().all(|(k, v)| has_kv(&rest, k, v))
        })
    })
}

/// Waits up to 5 s for a line of `level` with `fields` in `log`; panics with `what` and
/// the log otherwise.
async fn expect_log_line(log: &Path, level: &str, fields: &[(&str, &str)], what: &str) {
    assert!(
        eventually(Duration::from_secs(5), || has_line(
            &read_lines(log),
            level,
            fields
        ))
        .await,
        "{what}:\n{}",
        read_lines(log).join("\n")
    );
}

#[test]
fn field_matcher() {
    assert!(has_kv(
        "new subscriber client=\"onscreen\" user=42",
        "client",
        "onscreen"
    ));
    assert!(has_kv(
        "new subscriber client=onscreen user=42",
        "user",
        "42"
    ));
    assert!(!has_kv(
        "new subscriber client=onscreen2 user=420",
        "user",
        "42"
    ));
}

#[tokio::test]
async fn log_and_error_log_files_get_one_line_per_record() {
    let user = scratch_user_if_root();
    let dir_holder = TempDir::new("logs");
    let logs = log_dir(&dir_holder, &user);
    let log = logs.join("chat.log");
    let error_log = logs.join("chatError.log");
    let sc = scenario(
        "logf",
        &user,
        json!({"log": log.display().to_string(), "error_log": error_log.display().to_string(),
               "log_level": "debug"}),
    )
    .await;
    let mut d = sc.setup().spawn();
    let started = now_s();
    traffic(sc.port, 42, &d).await;
    let complete = eventually(Duration::from_secs(10), || {
        let l = read_lines(&log);
        has_line(&l, "INFO", &[("client", "onscreen"), ("user", "42")])
            && has_line(&l, "WARN", &[("client", "onscreen")])
            && has_line(&read_lines(&error_log), "ERROR", &[("client", "broken")])
    })
    .await;
    let main_lines = read_lines(&log);
    let error_lines = read_lines(&error_log);
    let shown = format!(
        "----- {} -----\n{}\n----- {} -----\n{}\n{}",
        log.display(),
        main_lines.join("\n"),
        error_log.display(),
        error_lines.join("\n"),
        d.logs()
    );
    assert!(
        complete,
        "expected in the log: INFO …client=onscreen user=42 (Connect), WARN …client=onscreen \
         (wrong secret); in the error log: ERROR …client=broken (no chatroom_settings)\n{shown}"
    );
    for l in &main_lines {
        let (secs, _, _) = parse_line(l).unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert!(
            (started - 120..=now_s() + 5).contains(&secs),
            "timestamp of {l:?} is not now (UTC)"
        );
    }
    for l in &error_lines {
        let (_, level, _) = parse_line(l).unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert_eq!(level, "ERROR", "the error log gets only errors: {l:?}");
    }
    d.terminate_expecting_exit_0().await;
    drop(d);
    sc.drop_dbs().await;
}

#[tokio::test]
async fn log_file_is_reopened_on_sighup_after_logrotate_moved_it() {
    let user = scratch_user_if_root();
    let dir_holder = TempDir::new("rot");
    let logs = log_dir(&dir_holder, &user);
    let log = logs.join("chat.log");
    let sc = scenario(
        "rotf",
        &user,
        json!({"log": log.display().to_string(), "log_level": "info"}),
    )
    .await;
    let d = sc.setup().spawn();
    traffic(sc.port, 101, &d).await;
    expect_log_line(
        &log,
        "INFO",
        &[("user", "101")],
        &format!("no INFO line with user=101 in {}", log.display()),
    )
    .await;
    let rotated = logs.join("chat.log.1");
    fs::rename(&log, &rotated).unwrap();
    d.signal(Signal::SIGHUP);
    assert!(
        eventually(Duration::from_secs(10), || log.exists()).await,
        "after `mv chat.log chat.log.1` and SIGHUP the daemon must create {} again\n{}",
        log.display(),
        d.logs()
    );
    let r = get(
        v4(sc.port),
        "/backend/Connect/onscreen/7/102",
        Some(("k1", "s1")),
    )
    .await
    .unwrap();
    assert_eq!(r.body, r#"{"status":200}"#);
    expect_log_line(
        &log,
        "INFO",
        &[("user", "102")],
        &format!("records after the reopen go to the new {}", log.display()),
    )
    .await;
    assert!(
        !read_lines(&rotated).iter().any(|l| l.contains("user=102")),
        "the moved file must not receive records after the reopen"
    );
    drop(d);
    sc.drop_dbs().await;
}

#[tokio::test]
async fn log_level_filters_the_log_file_and_changes_on_sighup() {
    let user = scratch_user_if_root();
    let dir_holder = TempDir::new("lvl");
    let logs = log_dir(&dir_holder, &user);
    let log = logs.join("chat.log");
    let sc = scenario(
        "lvlf",
        &user,
        json!({"log": log.display().to_string(), "log_level": "warning"}),
    )
    .await;
    let d = sc.setup().spawn();
    traffic(sc.port, 42, &d).await;
    expect_log_line(
        &log,
        "WARN",
        &[("client", "onscreen")],
        "log_level warning still logs the wrong secret (WARN)",
    )
    .await;
    let chatty: Vec<String> = read_lines(&log)
        .into_iter()
        .filter(|l| {
            parse_line(l).is_ok_and(|(_, lv, _)| matches!(lv.as_str(), "INFO" | "DEBUG" | "TRACE"))
        })
        .collect();
    assert!(
        chatty.is_empty(),
        "log_level warning: no INFO/DEBUG/TRACE lines expected:\n{}",
        chatty.join("\n")
    );

    // The level is part of the reload: info from now on.
    let server_path = sc.dir.join("server.cfg");
    let mut server: Value =
        serde_json::from_str(&fs::read_to_string(&server_path).unwrap()).unwrap();
    server["log_level"] = json!("info");
    write_json(&server_path, &server);
    d.signal(Signal::SIGHUP);
    // Keep asking until the new level is applied.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        let _ = get(
            v4(sc.port),
            "/backend/Connect/onscreen/7/43",
            Some(("k1", "s1")),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen = has_line(&read_lines(&log), "INFO", &[("user", "43")]);
    }
    assert!(
        seen,
        "after log_level info + SIGHUP, Connect must log INFO …user=43:\n{}\n{}",
        read_lines(&log).join("\n"),
        d.logs()
    );
    drop(d);
    sc.drop_dbs().await;
}
