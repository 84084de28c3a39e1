//! The real tools a test drives: [`require_root`] / [`require_tool`] fail the test (never
//! skip it) when it cannot do its job, naming the missing package; [`run_tool`] runs one
//! to completion.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails the test (does not skip it) when not running as root: CI runs as root, and a
/// silently skipped privilege test would hide a broken daemon.
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "\n\n*** This test must run as root ({why}); it fails instead of skipping so that a \
         non-root CI run cannot hide a broken daemon.\n"
    );
}

/// The absolute path of `tool` (a name looked up in `$PATH`, `/usr/sbin` and `/sbin`, or an
/// absolute path); fails the test naming the Debian package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let found = if tool.starts_with('/') {
        Some(PathBuf::from(tool)).filter(|p| is_executable(p))
    } else {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':')
            .filter(|d| !d.is_empty())
            .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .map(|d| Path::new(d).join(tool))
            .find(|p| is_executable(p))
    };
    found.unwrap_or_else(|| {
        panic!(
            "\n\n*** `{tool}` is missing: install the Debian package `{package}` \
             (apt-get install {package}).\n"
        )
    })
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a command to completion with a time limit; returns (status, stdout, stderr).
pub fn run_tool(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
    )
}
