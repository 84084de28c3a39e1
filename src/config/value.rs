//! Typed extraction from a parsed JSON object.
//!
//! Every accessor knows the file and the (dotted) key it reads, so each error can say
//! `FILE: KEY: what was found; what is expected` without the callers repeating it.
//! JSON `null` is treated like an absent key, and for optional values an empty (or
//! whitespace-only) string means "unset" too, because that is how PHP writes unset form
//! fields.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;

/// Found values longer than this are shortened in messages.
const MAX_SHOWN_CHARS: usize = 60;

/// Reads `path` and parses it as a JSON object.
pub(super) fn read_object(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    // An editor may have added a UTF-8 byte order mark; PHP never writes one.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let syntax = |problem: String| ConfigError::Syntax {
        file: path.to_path_buf(),
        problem,
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(syntax(format!(
            "the file contains {}; expected a JSON object {{ ... }}",
            kind(&other)
        ))),
        Err(error) => Err(syntax(error.to_string())),
    }
}

/// A JSON object inside a configuration file (the whole file, or a nested object such
/// as `database`).
pub(super) struct Object<'a> {
    file: &'a Path,
    /// Dotted key of this object (`""` for the top level).
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// The top level object of `file`.
    pub(super) fn root(file: &'a Path, map: &'a Map<String, Value>) -> Self {
        Object {
            file,
            prefix: String::new(),
            map,
        }
    }

    /// The value of `name` in this object (which may be absent).
    pub(super) fn field(&self, name: &str) -> Field<'a> {
        let key = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Field {
            file: self.file,
            key,
            value: self.map.get(name),
            redacted: false,
        }
    }
}

/// One key of a configuration file and its value, if any.
pub(super) struct Field<'a> {
    file: &'a Path,
    key: String,
    value: Option<&'a Value>,
    /// Never echo the value in messages (secrets, passwords).
    redacted: bool,
}

impl<'a> Field<'a> {
    /// Marks the value as secret: messages then only mention its JSON type.
    pub(super) fn redacted(mut self) -> Self {
        self.redacted = true;
        self
    }

    /// The raw value; `None` when the key is absent or `null`.
    pub(super) fn value(&self) -> Option<&'a Value> {
        self.value.filter(|value| !value.is_null())
    }

    /// True when the key is absent, `null` or a blank string.
    pub(super) fn is_unset(&self) -> bool {
        match self.value() {
            None => true,
            Some(Value::String(text)) => text.trim().is_empty(),
            Some(_) => false,
        }
    }

    /// An error about this key with a free-form problem text.
    pub(super) fn error(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            file: self.file.to_path_buf(),
            key: self.key.clone(),
            problem: problem.into(),
        }
    }

    /// "is missing / is null / is empty; expected ..." for a required key that is unset.
    pub(super) fn missing(&self, expected: &str) -> ConfigError {
        let state = match self.value {
            None => "is missing",
            Some(Value::Null) => "is null",
            Some(_) => "is empty",
        };
        self.error(format!("{state}; expected {expected}"))
    }

    /// "FOUND PROBLEM" (or "is KIND, which PROBLEM" for a redacted value), plus
    /// "; expected ..." when `expected` is not empty.
    pub(super) fn invalid(&self, problem: &str, expected: &str) -> ConfigError {
        let found = match self.value() {
            Some(value) if self.redacted => format!("is {}, which", kind(value)),
            Some(value) => show(value),
            None => "(unset)".to_owned(),
        };
        if expected.is_empty() {
            self.error(format!("{found} {problem}"))
        } else {
            self.error(format!("{found} {problem}; expected {expected}"))
        }
    }

    /// A string that must be present and not blank. Returned as written (not trimmed).
    pub(super) fn required_str(&self, expected: &str) -> Result<&'a str, ConfigError> {
        match self.value() {
            _ if self.is_unset() => Err(self.missing(expected)),
            Some(Value::String(text)) => Ok(text),
            _ => Err(self.invalid("is not a string", expected)),
        }
    }

    /// A string that may be absent, `null` or blank (all meaning `None`).
    pub(super) fn optional_str(&self, expected: &str) -> Result<Option<&'a str>, ConfigError> {
        if self.is_unset() {
            return Ok(None);
        }
        self.required_str(expected).map(Some)
    }

    /// A nested object that must be present.
    pub(super) fn object(&self, expected: &str) -> Result<Object<'a>, ConfigError> {
        match self.value() {
            None => Err(self.missing(expected)),
            Some(Value::Object(map)) => Ok(Object {
                file: self.file,
                prefix: self.key.clone(),
                map,
            }),
            Some(_) => Err(self.invalid("is not an object", expected)),
        }
    }

    /// An integer written as a JSON number or a numeric string; `None` when unset.
    /// Whole floating point numbers (`8585.0`) are accepted, as PHP may write them.
    pub(super) fn integer(&self) -> Result<Option<i128>, ConfigError> {
        if self.is_unset() {
            return Ok(None);
        }
        match self.value() {
            Some(Value::Number(number)) => number_to_integer(number)
                .map(Some)
                .ok_or_else(|| self.invalid("is not a whole number", "")),
            Some(Value::String(text)) => self.parse_integer(text.trim()).map(Some),
            _ => Err(self.invalid("is not a number", "")),
        }
    }

    /// Parses a numeric string; huge digit strings saturate so the caller's range check
    /// reports them as out of range rather than as "not a number".
    fn parse_integer(&self, text: &str) -> Result<i128, ConfigError> {
        if let Ok(number) = text.parse::<i128>() {
            return Ok(number);
        }
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(if text.starts_with('-') {
                i128::MIN
            } else {
                i128::MAX
            });
        }
        match text.parse::<f64>() {
            Ok(float) if float.is_finite() && float.fract() != 0.0 => {
                Err(self.invalid("is not a whole number", ""))
            }
            _ => Err(self.invalid("is not a number", "")),
        }
    }

    /// An integer in `low..=high`; `None` when unset.
    pub(super) fn integer_in(&self, low: i128, high: i128) -> Result<Option<i128>, ConfigError> {
        match self.integer()? {
            Some(number) if !(low..=high).contains(&number) => {
                Err(self.invalid(&format!("is out of range ({low}-{high})"), ""))
            }
            other => Ok(other),
        }
    }

    /// A file path (string) that may be unset. PHP's setup sometimes writes `0` or
    /// `false` for "no path", so those mean unset too.
    pub(super) fn optional_path(&self, expected: &str) -> Result<Option<PathBuf>, ConfigError> {
        match self.value() {
            Some(Value::Bool(false)) => Ok(None),
            Some(Value::Number(number)) if number.as_f64() == Some(0.0) => Ok(None),
            _ => Ok(self.optional_str(expected)?.map(PathBuf::from)),
        }
    }
}

/// Converts a JSON number to an integer if it has no fractional part.
fn number_to_integer(number: &serde_json::Number) -> Option<i128> {
    if let Some(int) = number.as_i64() {
        return Some(int.into());
    }
    if let Some(int) = number.as_u64() {
        return Some(int.into());
    }
    let float = number.as_f64()?;
    // Saturating `as` is fine: anything this large fails the caller's range check.
    (float.fract() == 0.0).then_some(float as i128)
}

/// Compact JSON of a found value, shortened when long.
pub(super) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_SHOWN_CHARS - 1).collect();
    short.push('…');
    short
}

/// "a string", "a number", ... for messages that must not echo the value.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
