//! Scratch files and names: unique names for databases and directories, the switch that
//! keeps them for inspection, [`TempDir`], and reading and writing the files a test
//! shares with the daemon (JSON configs, log lines).

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// Set to `1` to keep test databases and temp dirs for inspection.
pub const KEEP_ENV: &str = "ILIAS_CHAT_TEST_KEEP";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(super) fn keep_artifacts() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1")
}

/// A random 64-bit value from the std hasher's random keys (no extra crates needed).
pub(super) fn random_u64() -> u64 {
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// `<prefix>_<pid>_<counter>_<random>`: unique across parallel tests and test binaries.
pub(super) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{n}_{:08x}",
        std::process::id(),
        random_u64() as u32
    )
}

/// A temporary directory, removed on drop (kept when the test panics or with
/// `ILIAS_CHAT_TEST_KEEP=1`).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(&format!("ilias-chat-{prefix}")));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || keep_artifacts() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `v` as pretty JSON (as PHP does) to `path`.
pub fn write_json(path: &Path, v: &Value) {
    // PHP writes JSON_PRETTY_PRINT; any JSON parser copes, pretty keeps it readable.
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(serde_json::to_string_pretty(v).unwrap().as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The lines of a (log) file; none when it cannot be read.
pub fn read_lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
