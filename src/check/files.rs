//! File checks of `--check`: secrets readable by every user, and what the service user
//! can read. The latter runs in a forked child that switches to the service user and
//! tries, so that everything the kernel considers (modes, groups, ACLs, every
//! directory on the way) counts, while the checking process keeps its identity.

use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

use super::{Finding, database};
use crate::config::{ClientConfig, Protocol, ServerConfig};
use crate::daemon::privileges;

/// Warnings for client files (database password, API secret) and TLS keys that every
/// user of the host can read.
pub(super) fn exposed_secrets(files: &[PathBuf], server: Option<&ServerConfig>) -> Vec<Finding> {
    let mut secrets: Vec<(&Path, &str)> = files
        .iter()
        .map(|f| {
            (
                f.as_path(),
                "it holds the database password and the API secret",
            )
        })
        .collect();
    if let Some(ServerConfig {
        protocol: Protocol::Https(tls),
        ..
    }) = server
    {
        secrets.push((tls.key.as_path(), "it is the TLS private key"));
    }
    secrets
        .into_iter()
        .filter_map(|(file, what)| {
            let mode = std::fs::metadata(file).ok()?.permissions().mode();
            (mode & 0o004 != 0).then(|| {
                Finding::warning(format!(
                    "{}: readable by every user of this host (mode {:04o}); {what}: \
                     chmod o-r {}",
                    file.display(),
                    mode & 0o7777,
                    file.display()
                ))
            })
        })
        .collect()
}

/// Switches to `user` in a forked child, tries to read every path (directories are
/// listed) and, when `databases` is not empty, connects to them as that user. The
/// child's findings come back through a pipe, one JSON object per line.
pub(super) fn as_service_user(
    user: &str,
    paths: &[PathBuf],
    databases: &[ClientConfig],
) -> Vec<Finding> {
    let (reader, writer) = match pipe() {
        Ok(ends) => ends,
        Err(error) => return vec![cannot_check(user, error)],
    };
    // SAFETY: `--check` runs before any thread is started, so the child is a copy of a
    // single-threaded process and may do anything until it exits.
    match unsafe { fork() } {
        Err(error) => vec![cannot_check(user, error)],
        Ok(ForkResult::Child) => {
            drop(reader);
            let findings = child(user, paths, databases);
            let code = i32::from(write_findings(writer, &findings).is_err());
            // Skip the parent's exit handlers and buffers: only the pipe speaks.
            unsafe { nix::libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(writer);
            let mut text = String::new();
            let read = std::fs::File::from(reader).read_to_string(&mut text);
            let waited = waitpid(child, None);
            let mut findings: Vec<Finding> = text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            if read.is_err() || !matches!(waited, Ok(WaitStatus::Exited(_, 0))) {
                findings.push(Finding::config_error(format!(
                    "the check as user {user} did not finish ({waited:?})"
                )));
            }
            findings
        }
    }
}

fn cannot_check(user: &str, error: nix::Error) -> Finding {
    Finding::config_error(format!("cannot check what user {user} can read: {error}"))
}

fn write_findings(writer: OwnedFd, findings: &[Finding]) -> std::io::Result<()> {
    let mut pipe = std::fs::File::from(writer);
    for finding in findings {
        let line = serde_json::to_string(finding).map_err(std::io::Error::other)?;
        writeln!(pipe, "{line}")?;
    }
    pipe.flush()
}

/// The forked child: the service user's view.
fn child(user: &str, paths: &[PathBuf], databases: &[ClientConfig]) -> Vec<Finding> {
    if let Err(error) = privileges::drop_to(user) {
        return vec![Finding::config_error(format!(
            "cannot check as the service user: {error}"
        ))];
    }
    let mut findings: Vec<Finding> = paths
        .iter()
        .filter_map(|path| {
            let tried = if path.is_dir() {
                std::fs::read_dir(path).map(drop)
            } else {
                std::fs::File::open(path).map(drop)
            };
            tried.err().map(|error| {
                Finding::config_error(format!(
                    "{}: the service user {user} cannot read it: {error} (the service reads \
                     it at start and on every reload)",
                    path.display()
                ))
            })
        })
        .collect();
    if findings.is_empty() && !paths.is_empty() {
        findings.push(Finding::ok(format!(
            "the service user {user} can read every file the service reads"
        )));
    }
    findings.extend(database::check_all(databases));
    findings
}
