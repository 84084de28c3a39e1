//! The positional arguments of an inbound socket.io event, checked at the edge.
//!
//! Browsers send events as `[name, arg0, arg1, …]`; ILIAS 8, 9 and 10 send different
//! numbers of arguments, and ids arrive as numbers or numeric strings. Handlers take
//! [`EventArgs`] (which accepts any argument list, so socketioxide never drops an event
//! silently) and turn it into a typed event with the getters here, each of which says
//! precisely what was wrong.

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

/// Longest text accepted in a single string argument (names, message text). Larger
/// values cannot be stored by ILIAS anyway (`varchar(4000)`).
pub const MAX_TEXT_CHARS: usize = 4000;

/// Why an event's arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("argument {index} ({what}) is missing")]
    Missing { index: usize, what: &'static str },
    #[error("argument {index} ({what}) must be {expected}, got {found}")]
    Type {
        index: usize,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("argument {index} ({what}) is longer than {max} characters")]
    TooLong {
        index: usize,
        what: &'static str,
        max: usize,
    },
}

/// All positional arguments of one event, whatever their number and types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventArgs(pub Vec<Value>);

impl<'de> Deserialize<'de> for EventArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = EventArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(EventArgs(args))
            }
        }
        // Asking for a tuple makes socketioxide hand over every argument, not only the
        // first one; serde_json ignores the length.
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// A short description of a JSON value for error messages (never the whole value).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => "a long string".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl EventArgs {
    /// The argument at `index`, if present and not `null`.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.0.get(index).filter(|v| !v.is_null())
    }

    fn required(&self, index: usize, what: &'static str) -> Result<&Value, ArgError> {
        self.get(index).ok_or(ArgError::Missing { index, what })
    }

    /// A string of at most [`MAX_TEXT_CHARS`] characters.
    pub fn text(&self, index: usize, what: &'static str) -> Result<String, ArgError> {
        let value = self.required(index, what)?;
        text_value(value, index, what)
    }

    /// A positive integer id sent as a number or a numeric string.
    pub fn id(&self, index: usize, what: &'static str) -> Result<i64, ArgError> {
        id_value(self.required(index, what)?, index, what)
    }

    /// Like [`EventArgs::id`], but absent or `null` gives `None`.
    pub fn optional_id(&self, index: usize, what: &'static str) -> Result<Option<i64>, ArgError> {
        self.get(index)
            .map(|v| id_value(v, index, what))
            .transpose()
    }

    /// A boolean (also `0`/`1`), `None` when absent.
    pub fn optional_bool(
        &self,
        index: usize,
        what: &'static str,
    ) -> Result<Option<bool>, ArgError> {
        let Some(value) = self.get(index) else {
            return Ok(None);
        };
        match value {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Some(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Some(true)),
            other => Err(ArgError::Type {
                index,
                what,
                expected: "a boolean",
                found: describe(other),
            }),
        }
    }

    /// A JSON object.
    pub fn object(
        &self,
        index: usize,
        what: &'static str,
    ) -> Result<&serde_json::Map<String, Value>, ArgError> {
        let value = self.required(index, what)?;
        value.as_object().ok_or_else(|| ArgError::Type {
            index,
            what,
            expected: "an object",
            found: describe(value),
        })
    }
}

/// JavaScript truthiness, for flags browsers send as booleans, 0/1 or strings.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        Value::Array(_) | Value::Object(_) => true,
    }
}

impl From<Value> for EventArgs {
    /// An array becomes the argument list; any other value a single argument.
    fn from(value: Value) -> EventArgs {
        match value {
            Value::Array(args) => EventArgs(args),
            other => EventArgs(vec![other]),
        }
    }
}

/// Checks a string value (shared by top-level arguments and object fields).
pub fn text_value(value: &Value, index: usize, what: &'static str) -> Result<String, ArgError> {
    let Value::String(text) = value else {
        return Err(ArgError::Type {
            index,
            what,
            expected: "a string",
            found: describe(value),
        });
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ArgError::TooLong {
            index,
            what,
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(text.clone())
}

/// Checks an id value: a positive integer, as a number or a numeric string.
pub fn id_value(value: &Value, index: usize, what: &'static str) -> Result<i64, ArgError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.filter(|id| *id > 0).ok_or_else(|| ArgError::Type {
        index,
        what,
        expected: "a positive integer id",
        found: describe(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(values: Value) -> EventArgs {
        EventArgs::from(values)
    }

    #[test]
    fn deserializes_every_argument() {
        let parsed: EventArgs = serde_json::from_value(json!(["ann", 5, true])).expect("array");
        assert_eq!(parsed, args(json!(["ann", 5, true])));
    }

    #[test]
    fn ids_accept_numbers_and_numeric_strings() {
        let a = args(json!([5, "6", " 7 ", 0, -1, "x", 1.5, null]));
        assert_eq!(a.id(0, "user"), Ok(5));
        assert_eq!(a.id(1, "user"), Ok(6));
        assert_eq!(a.id(2, "user"), Ok(7));
        assert!(matches!(a.id(3, "user"), Err(ArgError::Type { .. })));
        assert!(matches!(a.id(4, "user"), Err(ArgError::Type { .. })));
        assert!(matches!(a.id(5, "user"), Err(ArgError::Type { .. })));
        assert!(matches!(a.id(6, "user"), Err(ArgError::Type { .. })));
        assert_eq!(
            a.id(7, "user"),
            Err(ArgError::Missing {
                index: 7,
                what: "user"
            })
        );
        assert_eq!(a.optional_id(7, "user"), Ok(None));
    }

    #[test]
    fn text_is_bounded_and_typed() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let a = args(json!(["ok", 3, long]));
        assert_eq!(a.text(0, "name"), Ok("ok".to_string()));
        assert_eq!(
            a.text(1, "name").map_err(|e| e.to_string()),
            Err("argument 1 (name) must be a string, got 3".to_string())
        );
        assert!(matches!(a.text(2, "name"), Err(ArgError::TooLong { .. })));
    }

    #[test]
    fn booleans_accept_zero_and_one() {
        let a = args(json!([true, 0, 1, "yes"]));
        assert_eq!(a.optional_bool(0, "b"), Ok(Some(true)));
        assert_eq!(a.optional_bool(1, "b"), Ok(Some(false)));
        assert_eq!(a.optional_bool(2, "b"), Ok(Some(true)));
        assert!(a.optional_bool(3, "b").is_err());
        assert_eq!(a.optional_bool(4, "b"), Ok(None));
    }
}
