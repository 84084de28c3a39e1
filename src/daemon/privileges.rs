//! Dropping root: a server started as root by hand (or by an init script) switches to
//! the service user once it holds everything only root can get — the listening
//! sockets, open log files, TLS keys. Under systemd the unit's `User=` does this and
//! the server is not root to begin with.

use std::ffi::CString;

use nix::unistd::{Gid, Uid, User, geteuid, initgroups, setgid, setuid};

/// The user the Debian package creates.
pub const DEFAULT_USER: &str = "onscreenchat";

/// Why the switch failed; the server must not go on as root then.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("user {0:?} does not exist (create it, or name another with --user)")]
    NoSuchUser(String),
    #[error("cannot look up user {user:?}: {source}")]
    Lookup { user: String, source: nix::Error },
    #[error("cannot switch to user {user:?}: {step} failed: {source}")]
    Switch {
        user: String,
        step: &'static str,
        source: nix::Error,
    },
    #[error("still able to regain root after switching to {0:?}; refusing to run")]
    RootRegained(String),
}

/// Whether the process runs as root.
pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Switches to `name`: supplementary groups, group, then user — the order matters, as
/// only root may change groups. Then checks that root cannot be regained.
pub fn drop_to(name: &str) -> Result<(Uid, Gid), PrivilegeError> {
    let user = User::from_name(name)
        .map_err(|source| PrivilegeError::Lookup {
            user: name.to_string(),
            source,
        })?
        .ok_or_else(|| PrivilegeError::NoSuchUser(name.to_string()))?;
    let switch = |step: &'static str| {
        move |source| PrivilegeError::Switch {
            user: name.to_string(),
            step,
            source,
        }
    };
    let c_name = CString::new(name).map_err(|_| PrivilegeError::NoSuchUser(name.to_string()))?;
    initgroups(&c_name, user.gid).map_err(switch("initgroups"))?;
    setgid(user.gid).map_err(switch("setgid"))?;
    setuid(user.uid).map_err(switch("setuid"))?;
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::RootRegained(name.to_string()));
    }
    Ok((user.uid, user.gid))
}
