//! [`ScratchUser`]: a throwaway system user + group (`useradd --system`), deleted on
//! drop; the daemon drops privileges to it when started as root. [`proc_ids`] shows
//! which ids a process runs with.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::files::random_u64;
use super::tools::{is_root, require_root, require_tool, run_tool};

/// A system user and its private group, `ilchat_t<random>`, created with `useradd
/// --system` and removed again on drop (also when the test panics). Drop every process
/// running as this user before the `ScratchUser` (declare the user first).
#[derive(Debug)]
pub struct ScratchUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl ScratchUser {
    pub fn create() -> ScratchUser {
        require_root("creating a throwaway system user needs root");
        let useradd = require_tool("useradd", "passwd");
        let name = format!("ilchat_t{:08x}", random_u64() as u32);
        // useradd refuses to run while another one holds /etc/passwd's lock (parallel
        // tests): retry for a while.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _, err) = run_tool(
                Command::new(&useradd)
                    .args([
                        "--system",
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        "--user-group",
                    ])
                    .arg(&name),
                Duration::from_secs(30),
            );
            if status.success() {
                break;
            }
            if Instant::now() > deadline {
                panic!("useradd {name} failed ({status}): {err}");
            }
            std::thread::sleep(Duration::from_millis(50 + random_u64() % 200));
        }
        let user = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("useradd {name} succeeded but getpwnam cannot find it"));
        ScratchUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }
}

impl Drop for ScratchUser {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("userdel")
                .arg(&self.name)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            match out {
                Ok(o) if o.status.success() => break,
                // 6: the user does not exist (any more).
                Ok(o) if o.status.code() == Some(6) => break,
                Ok(o) if Instant::now() > deadline => {
                    eprintln!(
                        "warning: userdel {} failed: {}",
                        self.name,
                        String::from_utf8_lossy(&o.stderr)
                    );
                    break;
                }
                Err(e) => {
                    eprintln!("warning: userdel {}: {e}", self.name);
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50 + random_u64() % 200)),
            }
        }
        // userdel removes the private group too; make sure.
        if nix::unistd::Group::from_name(&self.name)
            .ok()
            .flatten()
            .is_some()
        {
            let _ = Command::new("groupdel")
                .arg(&self.name)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A scratch user when running as root (the daemon then must drop privileges and needs a
/// user to drop to), none otherwise.
pub fn scratch_user_if_root() -> Option<ScratchUser> {
    is_root().then(ScratchUser::create)
}

/// `Uid:`/`Gid:` (four ids each) and `Groups:` of `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcIds {
    pub uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
}

pub fn proc_ids(pid: u32) -> ProcIds {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let nums = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
            .split_whitespace()
            .map(|n| n.parse().expect("id"))
            .collect()
    };
    ProcIds {
        uid: nums("Uid:"),
        gid: nums("Gid:"),
        groups: nums("Groups:"),
    }
}
