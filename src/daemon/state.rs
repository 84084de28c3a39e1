//! The state directory of the daemon: what must outlive the process (the write journal,
//! the restart snapshot), each kind in its own subfolder. systemd creates it for the
//! service user (`StateDirectory=ilias-chat` → `/var/lib/ilias-chat`, passed in
//! `$STATE_DIRECTORY`); `--state-dir` names another one (the demo and the tests use
//! their own).

use std::io;
use std::path::{Path, PathBuf};

/// Where the packaged service keeps its state.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/ilias-chat";

/// The subfolder of the database write journal.
pub const JOURNAL: &str = "journal";

/// The subfolder of the restart snapshot.
pub const SNAPSHOT: &str = "snapshot";

/// The daemon's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// A state directory at this path (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// `--state-dir` if given, else the first path of systemd's `$STATE_DIRECTORY`,
    /// else [`DEFAULT_STATE_DIR`].
    pub fn resolve(given: Option<PathBuf>) -> StateDir {
        let from_systemd = std::env::var_os("STATE_DIRECTORY").and_then(|dirs| {
            // systemd separates several directories with ':'.
            std::env::split_paths(&dirs).find(|p| !p.as_os_str().is_empty())
        });
        StateDir::new(
            given
                .or(from_systemd)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        )
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The subfolder of one kind of state, created (mode 0700) when missing.
    pub fn kind(&self, kind: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.root.join(kind);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(dir)
    }
}

impl StateDir {
    /// The write journal folder of one ILIAS client (`journal/<client>`), created
    /// (mode 0700) when missing. The client name is made safe for a file name.
    pub fn client_journal(&self, client: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        let safe: String = client
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self
            .kind(JOURNAL)?
            .join(if safe.is_empty() { "_" } else { &safe });
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_its_own_private_subfolder() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("ilias-chat-state-{}", std::process::id()));
        let state = StateDir::new(&root);
        let journal = state.kind(JOURNAL).expect("created");
        let snapshot = state.kind(SNAPSHOT).expect("created");
        assert_eq!(journal, root.join("journal"));
        assert_ne!(journal, snapshot);
        let mode = std::fs::metadata(&journal)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // Asking again is fine.
        assert_eq!(state.kind(JOURNAL).expect("again"), journal);
        std::fs::remove_dir_all(&root).expect("cleaned up");
    }

    #[test]
    fn each_client_gets_a_journal_folder_with_a_safe_name() {
        let root = std::env::temp_dir().join(format!("ilias-chat-journal-{}", std::process::id()));
        let state = StateDir::new(&root);
        let dir = state.client_journal("../my client").expect("created");
        assert_eq!(dir, root.join("journal").join("___my_client"));
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&root).expect("cleaned up");
    }

    #[test]
    fn the_command_line_wins_over_systemd() {
        let given = StateDir::resolve(Some(PathBuf::from("/tmp/x")));
        assert_eq!(given.root(), Path::new("/tmp/x"));
    }
}
