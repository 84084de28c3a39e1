//! The manual pages in `man/`: they pass the linters Debian's lintian and the man page
//! tools use, and they document what the code actually reads and does, so they cannot
//! drift silently:
//!
//! * `mandoc -T lint -W warning` is clean (exit 0, no output), `groff -man -ww -z`
//!   prints nothing, and `man --warnings` renders them at 80 columns without a warning
//!   (what lintian's manpage check runs);
//! * every key `src/config/server.rs`, `src/config/edge.rs` and `src/config/client.rs` read (`x.field("key")`)
//!   has an entry in the matching section of ilias-chat.cfg(5);
//! * every long option `ilias-chat --help` lists, every sysexits code `src/main.rs` and
//!   `src/config` exit with, and every `ILIAS_CHAT_*` variable the code reads appear in
//!   the OPTIONS, EXIT STATUS and ENVIRONMENT sections of ilias-chat(8);
//! * the systemd units' `Documentation=` and the Debian package name these pages.
//!
//! The linters must be installed (apt-get install mandoc groff-base man-db): the tests
//! fail, never skip, without them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PAGES: [&str; 2] = ["man/ilias-chat.8", "man/ilias-chat.cfg.5"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs a tool, failing the test with the package to install when it is missing.
fn run(program: &str, package: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(repo());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); install it: apt-get install {package}")
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn mandoc_lint_is_clean() {
    for page in PAGES {
        let out = run(
            "mandoc",
            "mandoc",
            &["-T", "lint", "-W", "warning", page],
            &[],
        );
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "mandoc -T lint -W warning {page}: {}\n{said}",
            out.status
        );
    }
}

#[test]
fn groff_prints_no_warning() {
    for page in PAGES {
        let out = run("groff", "groff-base", &["-man", "-ww", "-z", page], &[]);
        let said = text(&out.stdout) + &text(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "groff -man -ww -z {page}: {}\n{said}",
            out.status
        );
    }
}

/// lintian's check: `man --warnings -E UTF-8 -l -Tutf8 -Z` at 80 columns.
#[test]
fn man_renders_without_warnings() {
    for page in PAGES {
        let out = run(
            "man",
            "man-db",
            &["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page],
            &[
                ("LC_ALL", "C.UTF-8"),
                ("MANWIDTH", "80"),
                ("MANROFFSEQ", ""),
            ],
        );
        let said = text(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "man --warnings -l {page}: {}\n{said}",
            out.status
        );
    }
}

/// The text of the section `.SH <name>` (up to the next `.SH`).
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let heading = format!("\n.SH {name}\n");
    let start = page
        .find(&heading)
        .unwrap_or_else(|| panic!("no section \".SH {name}\""))
        + heading.len();
    let end = page[start..]
        .find("\n.SH ")
        .map_or(page.len(), |i| start + i);
    &page[start..end]
}

/// The entries of a section: the first word after `.B`/`.BR`/`.BI` on lines that
/// follow `.TP` (the tag of a tagged paragraph).
fn entries(section: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = section.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].trim() == ".TP")
        .filter_map(|pair| {
            let mut words = pair[1].split_whitespace();
            match words.next() {
                Some(".B" | ".BR" | ".BI") => words.next().map(|w| w.trim_matches('"').to_string()),
                _ => None,
            }
        })
        .collect()
}

/// The keys a config module reads: `root.field("k")` gives `k`, `database.field("k")`
/// gives `database.k`.
fn keys_read(source: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let marker = ".field(\"";
    let mut rest = source;
    while let Some(at) = rest.find(marker) {
        // The receiver may stand on the line before (`auth\n    .field("secret")`).
        let receiver: String = rest[..at]
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = &rest[at + marker.len()..];
        let key = &after[..after.find('"').expect("closing quote")];
        assert!(
            !receiver.is_empty(),
            "cannot tell which object .field(\"{key}\") reads"
        );
        keys.insert(if receiver == "root" {
            key.to_string()
        } else {
            format!("{receiver}.{key}")
        });
        rest = after;
    }
    keys
}

fn assert_documented(file: &str, section_name: &str, wanted: &BTreeSet<String>) {
    let page = read("man/ilias-chat.cfg.5");
    let documented = entries(section(&page, section_name));
    let missing: Vec<&String> = wanted.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys read in {file} without an entry in section {section_name} of ilias-chat.cfg(5): \
         {missing:?}\n(documented: {documented:?})"
    );
}

#[test]
fn every_server_cfg_key_is_documented() {
    let keys = keys_read(&read("src/config/server.rs"));
    for expected in [
        "address",
        "port",
        "sub_directory",
        "log_level",
        "deletion_time",
    ] {
        assert!(
            keys.contains(expected),
            "parser found no {expected:?}: {keys:?}"
        );
    }
    assert_documented("src/config/server.rs", "SERVER.CFG", &keys);
}

#[test]
fn every_connection_limit_key_is_documented() {
    let keys = keys_read(&read("src/config/edge.rs"));
    for expected in [
        "header_timeout",
        "login_timeout",
        "max_connections_per_address",
    ] {
        assert!(
            keys.contains(expected),
            "parser found no {expected:?}: {keys:?}"
        );
    }
    assert_documented("src/config/edge.rs", "SERVER.CFG", &keys);
}

#[test]
fn every_client_cfg_key_is_documented() {
    let keys = keys_read(&read("src/config/client.rs"));
    for expected in ["name", "auth.secret", "database.host", "ilias_version"] {
        assert!(
            keys.contains(expected),
            "parser found no {expected:?}: {keys:?}"
        );
    }
    assert_documented("src/config/client.rs", "CLIENT.CFG", &keys);
}

#[test]
fn every_verified_identity_key_is_documented() {
    let keys = keys_read(&read("src/config/identity.rs"));
    for expected in ["verify_session", "session_cookie"] {
        assert!(
            keys.contains(expected),
            "parser found no {expected:?}: {keys:?}"
        );
    }
    assert_documented("src/config/identity.rs", "CLIENT.CFG", &keys);
}

#[test]
fn every_option_of_help_is_documented() {
    let out = Command::new(env!("CARGO_BIN_EXE_ilias-chat"))
        .arg("--help")
        .output()
        .expect("run ilias-chat --help");
    assert!(out.status.success(), "ilias-chat --help: {}", out.status);
    let help = text(&out.stdout);
    let options: BTreeSet<String> = help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect();
    for expected in [
        "--check",
        "--user",
        "--demo",
        "--state-dir",
        "--listen",
        "--help",
        "--version",
    ] {
        assert!(
            options.contains(expected),
            "--help has no {expected}:\n{help}"
        );
    }
    let page = read("man/ilias-chat.8");
    let documented = section(&page, "OPTIONS");
    for option in &options {
        let roff = option.replace('-', "\\-");
        assert!(
            documented.contains(&roff),
            "ilias-chat --help lists {option}, the OPTIONS of ilias-chat(8) do not"
        );
    }
}

/// The numbers of `ExitStatus::Name => N,` in the module that defines every exit status.
fn exit_codes(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("ExitStatus::")?;
            let value = rest.split("=>").nth(1)?.trim().trim_end_matches(',');
            value.parse::<u8>().ok().map(|n| n.to_string())
        })
        .collect()
}

#[test]
fn every_exit_status_is_documented() {
    let mut codes = exit_codes(&read("src/daemon/exit.rs"));
    for expected in ["71", "73", "77", "78"] {
        assert!(
            codes.contains(expected),
            "parser found no exit code {expected}: {codes:?}"
        );
    }
    // Success, ExitCode::FAILURE and clap's usage errors.
    codes.extend(["0", "1", "2"].map(String::from));
    let page = read("man/ilias-chat.8");
    let documented = entries(section(&page, "EXIT STATUS"));
    let missing: Vec<&String> = codes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "exit codes missing in EXIT STATUS of ilias-chat(8): {missing:?}"
    );
}

/// Every `"ILIAS_CHAT_…"` string literal under `dir`.
fn env_variables(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            env_variables(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("read source");
            for piece in source.split('"').skip(1).step_by(2) {
                if piece.starts_with("ILIAS_CHAT_")
                    && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    found.insert(piece.to_string());
                }
            }
        }
    }
}

#[test]
fn every_environment_variable_is_documented() {
    let mut variables = BTreeSet::new();
    env_variables(&repo().join("src"), &mut variables);
    variables.extend(
        [
            "LISTEN_FDS",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "JOURNAL_STREAM",
        ]
        .map(String::from),
    );
    assert!(
        variables.contains("ILIAS_CHAT_LOG"),
        "parser found no ILIAS_CHAT_LOG"
    );
    let page = read("man/ilias-chat.8");
    let documented = section(&page, "ENVIRONMENT");
    for variable in &variables {
        assert!(
            documented.contains(variable.as_str()),
            "{variable} is missing in ENVIRONMENT of ilias-chat(8)"
        );
    }
}

#[test]
fn units_and_package_name_the_pages() {
    let service = read("systemd/ilias-chat.service");
    assert!(service.contains("man:ilias-chat(8)") && service.contains("man:ilias-chat.cfg(5)"));
    assert!(read("systemd/ilias-chat.socket").contains("man:ilias-chat(8)"));
    let manpages = read("debian/ilias-chat.manpages");
    let listed: BTreeSet<&str> = manpages
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        listed,
        PAGES.into_iter().collect(),
        "debian/ilias-chat.manpages"
    );
    for page in PAGES {
        let source = read(page);
        let version = format!("\"ilias-chat {}\"", env!("CARGO_PKG_VERSION"));
        assert!(
            source
                .lines()
                .any(|l| l.starts_with(".TH ") && l.contains(&version)),
            "{page}: .TH should carry {version}"
        );
    }
}
