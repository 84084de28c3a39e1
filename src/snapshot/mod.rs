//! The restart snapshot: what browsers need to resume after a restart — the chat-room
//! subscribers, registrations and presence, recent departures, and the on-screen chat
//! participants of every client — saved into the state directory (`snapshot/`) when a
//! stop expects to come back, and taken over by the next process at start.
//!
//! A snapshot is used once (the file is removed when read), only when it is recent
//! (younger than the reconnect window: after that nobody's ILIAS page could resume
//! anyway) and only for a client whose fingerprint — instance name, database and
//! ILIAS version — is unchanged. Anything else (no file, a corrupt or foreign file, an
//! old one, a changed client) means the original's start-up: every open session is
//! ended. A bad file is logged, kept aside as `snapshot.json.rejected`, and never fatal.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ClientConfig;
use crate::daemon::state::{SNAPSHOT, StateDir};
use crate::im::model::SavedIm;
use crate::room::model::SavedRooms;

/// The file inside the `snapshot` subfolder of the state directory.
pub const FILE: &str = "snapshot.json";

/// The `format` field: tells a snapshot from any other JSON file.
const FORMAT: &str = "ilias-chat restart snapshot";

/// The layout version; a snapshot of another version is not read.
const VERSION: u32 = 1;

/// One client's saved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSnapshot {
    /// [`fingerprint`] of the client when saved.
    pub fingerprint: String,
    pub rooms: SavedRooms,
    pub im: SavedIm,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// When it was written (ms since the epoch).
    pub saved_at_ms: i64,
    /// By instance name.
    pub clients: BTreeMap<String, ClientSnapshot>,
}

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} is not an ilias-chat restart snapshot of version {VERSION} (format {format:?}, version {version})"
    )]
    Foreign {
        path: PathBuf,
        format: String,
        version: u32,
    },
    #[error("{path} is too old ({age_s} s, at most {max_s} s)")]
    TooOld {
        path: PathBuf,
        age_s: i64,
        max_s: u64,
    },
    #[error("{path} was written in the future ({ahead_s} s ahead; clock changed?)")]
    FromTheFuture { path: PathBuf, ahead_s: i64 },
}

/// What identifies a client for the snapshot: instance name, database (without the
/// password) and pinned ILIAS version. A client whose fingerprint changed starts clean.
pub fn fingerprint(config: &ClientConfig) -> String {
    let version = config
        .ilias_version
        .map(|g| g.to_string())
        .unwrap_or_else(|| "detected".to_string());
    format!(
        "{} {} ilias={version}",
        config.name,
        config.database.describe()
    )
}

impl Snapshot {
    /// An empty snapshot taken at `saved_at_ms`.
    pub fn new(saved_at_ms: i64) -> Snapshot {
        Snapshot {
            format: FORMAT.to_string(),
            version: VERSION,
            saved_at_ms,
            clients: BTreeMap::new(),
        }
    }

    /// Adds a client's state.
    pub fn add(&mut self, config: &ClientConfig, rooms: SavedRooms, im: SavedIm) {
        self.clients.insert(
            config.name.clone(),
            ClientSnapshot {
                fingerprint: fingerprint(config),
                rooms,
                im,
            },
        );
    }

    /// Writes the snapshot (a temporary file, synced, then renamed over the old one, so
    /// a crash while writing never leaves half a file). Returns its path.
    pub fn write(&self, state: &StateDir) -> Result<PathBuf, SnapshotError> {
        let dir = state.kind(SNAPSHOT).map_err(|source| SnapshotError::Io {
            path: state.root().join(SNAPSHOT),
            source,
        })?;
        let path = dir.join(FILE);
        let temporary = dir.join(format!("{FILE}.tmp"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io { path, source }
        };
        let json = serde_json::to_vec(self).map_err(|source| SnapshotError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
        file.write_all(&json).map_err(io(&temporary))?;
        file.sync_all().map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// Reads and removes the snapshot of the state directory. `Ok(None)`: there is
    /// none. A file that cannot be used is moved aside and the reason returned.
    pub fn take_file(
        state: &StateDir,
        now_ms: i64,
        max_age: Duration,
    ) -> Result<Option<Snapshot>, SnapshotError> {
        let path = state.root().join(SNAPSHOT).join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotError::Io { path, source }),
        };
        let checked = Snapshot::check(&path, &bytes, now_ms, max_age);
        let outcome = match &checked {
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => std::fs::rename(&path, path.with_extension("json.rejected")),
        };
        if let Err(source) = outcome {
            // A snapshot that stays would be read again at the next start, when it is
            // stale: refuse it now rather than then.
            return Err(SnapshotError::Io { path, source });
        }
        checked.map(Some)
    }

    fn check(
        path: &Path,
        bytes: &[u8],
        now_ms: i64,
        max_age: Duration,
    ) -> Result<Snapshot, SnapshotError> {
        // The header first: a file of another layout may not parse as this one.
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header =
            serde_json::from_slice(bytes).map_err(|source| SnapshotError::Corrupt {
                path: path.to_path_buf(),
                source,
            })?;
        if header.format.as_deref() != Some(FORMAT) || header.version != Some(VERSION) {
            return Err(SnapshotError::Foreign {
                path: path.to_path_buf(),
                format: header.format.unwrap_or_default(),
                version: header.version.unwrap_or_default(),
            });
        }
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|source| SnapshotError::Corrupt {
                path: path.to_path_buf(),
                source,
            })?;
        let age_ms = now_ms.saturating_sub(snapshot.saved_at_ms);
        // A little slack for clocks that step back by a moment.
        if age_ms < -5_000 {
            return Err(SnapshotError::FromTheFuture {
                path: path.to_path_buf(),
                ahead_s: -age_ms / 1000,
            });
        }
        if u128::try_from(age_ms).unwrap_or(0) > max_age.as_millis() {
            return Err(SnapshotError::TooOld {
                path: path.to_path_buf(),
                age_s: age_ms / 1000,
                max_s: max_age.as_secs(),
            });
        }
        Ok(snapshot)
    }

    /// Takes the saved state of a client, if its fingerprint is unchanged; `Err` with
    /// the saved fingerprint when it changed.
    pub fn take_client(&mut self, config: &ClientConfig) -> Option<Result<ClientSnapshot, String>> {
        let saved = self.clients.remove(&config.name)?;
        if saved.fingerprint == fingerprint(config) {
            Some(Ok(saved))
        } else {
            Some(Err(saved.fingerprint))
        }
    }
}

#[cfg(test)]
mod tests;
