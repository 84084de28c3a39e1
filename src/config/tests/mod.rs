//! Unit tests for the configuration loader: table-driven per key (valid forms → typed
//! value, invalid forms → the exact message), whole-file problems, the ILIAS-style
//! fixture files in `tests/fixtures/config/`, and the `--check` summaries.

use std::cell::Cell;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::ConfigError;

mod client;
mod edge;
mod enums;
mod fixtures;
mod server;

/// A scratch directory under the system temp dir, removed when dropped.
pub(super) struct Scratch {
    dir: PathBuf,
    files: Cell<usize>,
}

impl Scratch {
    pub(super) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ilias-chat-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            files: Cell::new(0),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `contents` to a new file whose name starts with `stem`.
    pub(super) fn write(&self, stem: &str, contents: &str) -> PathBuf {
        let n = self.files.get();
        self.files.set(n + 1);
        let path = self.dir.join(format!("{stem}-{n}.cfg"));
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes `value` pretty-printed, as PHP does.
    pub(super) fn write_json(&self, stem: &str, value: &Value) -> PathBuf {
        self.write(stem, &serde_json::to_string_pretty(value).unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `base` with the dotted `key` set to `value`, or removed when `value` is `None`.
pub(super) fn with_key(base: &Value, key: &str, value: Option<&Value>) -> Value {
    let mut document = base.clone();
    let mut object = document.as_object_mut().unwrap();
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap();
    for part in parts {
        object = object.get_mut(part).unwrap().as_object_mut().unwrap();
    }
    match value {
        Some(value) => object.insert(last.to_owned(), value.clone()),
        None => object.remove(last),
    };
    document
}

/// The loader under test (`load_server` or `load_client`).
pub(super) type Loader<C> = fn(&Path) -> Result<C, ConfigError>;

/// Runs one key's table: every `valid` form must load and `get` must return the
/// expected value; every `invalid` form must fail with exactly `FILE: <message>`.
/// `None` as a form means "key absent".
pub(super) fn check_key<C, T: PartialEq + Debug>(
    load: Loader<C>,
    base: &Value,
    key: &str,
    get: impl Fn(&C) -> T,
    valid: Vec<(Option<Value>, T)>,
    invalid: Vec<(Option<Value>, &str)>,
) {
    let scratch = Scratch::new();
    for (form, expected) in valid {
        let path = scratch.write_json("valid", &with_key(base, key, form.as_ref()));
        match load(&path) {
            Ok(config) => assert_eq!(get(&config), expected, "{key} = {form:?}"),
            Err(error) => panic!("{key} = {form:?} should load, got: {error}"),
        }
    }
    for (form, message) in invalid {
        let path = scratch.write_json("invalid", &with_key(base, key, form.as_ref()));
        match load(&path) {
            Ok(_) => panic!("{key} = {form:?} should be rejected with: {message}"),
            Err(error) => assert_eq!(
                error.to_string(),
                format!("{}: {message}", path.display()),
                "{key} = {form:?}"
            ),
        }
    }
}

/// Loads `value` written as a file and returns the error message with the file name
/// replaced by `FILE`, for tests that are not about one key.
pub(super) fn error_of<C: Debug>(load: Loader<C>, scratch: &Scratch, contents: &str) -> String {
    let path = scratch.write("file", contents);
    let error = load(&path).expect_err("should be rejected");
    error
        .to_string()
        .replace(&path.display().to_string(), "FILE")
}

/// A fixture file in `tests/fixtures/config/`.
pub(super) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}
