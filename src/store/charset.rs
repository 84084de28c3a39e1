//! 4-byte characters on 3-byte columns. Many ILIAS databases still use MySQL's 3-byte
//! `utf8` (`utf8mb3`), which cannot hold characters outside the Basic Multilingual
//! Plane (emoji). ILIAS 8/9 replaced them with `?` before storing; ILIAS 10+ sends
//! them as they are, and a strict-mode INSERT of such text into a 3-byte column fails,
//! losing the row. The server reads the character sets of the columns it writes text
//! to at start-up and stores what they can hold: JSON columns get the character as a
//! JSON escape (`\ud83d\ude00`, plain ASCII, read back by PHP's `json_decode` as the
//! same character), plain text columns get U+FFFD in its place. Live delivery is
//! never changed.

use std::borrow::Cow;
use std::fmt::Write as _;

use sqlx::Row;

use super::{Dialect, Store, StoreError};

/// Which text columns the server writes cannot hold 4-byte characters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NarrowColumns {
    /// `chatroom_history.message` (JSON).
    pub history: bool,
    /// `osc_messages.message` (plain text).
    pub osc_message: bool,
    /// `osc_conversation.participants` (JSON).
    pub osc_participants: bool,
}

impl NarrowColumns {
    fn any(&self) -> bool {
        self.history || self.osc_message || self.osc_participants
    }
}

/// Character sets whose characters take at most three bytes (or two): they cannot
/// store anything outside the BMP.
fn is_narrow(charset: &str) -> bool {
    matches!(
        charset.to_ascii_lowercase().as_str(),
        "utf8" | "utf8mb3" | "ucs2"
    )
}

impl Store {
    /// Reads the character sets of the columns the server writes text to and keeps the
    /// result for the writes. A failure is logged and changes nothing (then a 4-byte
    /// character on a 3-byte column fails as before, with the error logged).
    pub async fn with_column_charsets(mut self, client: &str) -> Store {
        if self.dialect != Dialect::Mysql {
            return self;
        }
        match narrow_columns(&self).await {
            Ok(narrow) => {
                if narrow.any() {
                    tracing::info!(
                        client,
                        history = narrow.history,
                        osc_messages = narrow.osc_message,
                        osc_participants = narrow.osc_participants,
                        "3-byte utf8 columns: 4-byte characters (emoji) are stored escaped (JSON) or as U+FFFD (text)"
                    );
                }
                self.narrow = narrow;
            }
            Err(error) => {
                tracing::warn!(client, %error, "cannot read the character sets of the chat columns")
            }
        }
        self
    }

    /// The columns found unable to hold 4-byte characters.
    pub fn narrow_columns(&self) -> NarrowColumns {
        self.narrow
    }
}

async fn narrow_columns(store: &Store) -> Result<NarrowColumns, StoreError> {
    let rows = sqlx::query(
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME IN ('chatroom_history', 'osc_messages', 'osc_conversation') \
         AND COLUMN_NAME IN ('message', 'participants')",
    )
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::query("reading column character sets"))?;
    let mut narrow = NarrowColumns::default();
    for row in &rows {
        let read = |i| row.try_get::<Option<String>, _>(i);
        let (Ok(Some(table)), Ok(Some(column)), Ok(Some(charset))) = (read(0), read(1), read(2))
        else {
            continue;
        };
        let flag = is_narrow(&charset);
        match (table.as_str(), column.as_str()) {
            ("chatroom_history", "message") => narrow.history = flag,
            ("osc_messages", "message") => narrow.osc_message = flag,
            ("osc_conversation", "participants") => narrow.osc_participants = flag,
            _ => {}
        }
    }
    Ok(narrow)
}

/// Serialised JSON for a column that may be 3-byte: every 4-byte character becomes
/// its JSON surrogate-pair escape. Outside strings JSON text is ASCII, so this only
/// ever touches string contents, and a JSON reader gets the same text back.
pub fn fit_json<'a>(json: &'a str, narrow: bool, what: &str) -> Cow<'a, str> {
    if !narrow || json.chars().all(|c| c.len_utf8() < 4) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    let mut count = 0;
    for c in json.chars() {
        if c.len_utf8() == 4 {
            count += 1;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    tracing::debug!(
        characters = count,
        "{what}: 4-byte characters stored as JSON escapes (3-byte utf8 column)"
    );
    Cow::Owned(out)
}

/// Plain text for a column that may be 3-byte: every 4-byte character becomes U+FFFD
/// (the only change; the row is stored).
pub fn fit_text<'a>(text: &'a str, narrow: bool, what: &str) -> Cow<'a, str> {
    if !narrow || text.chars().all(|c| c.len_utf8() < 4) {
        return Cow::Borrowed(text);
    }
    let count = text.chars().filter(|c| c.len_utf8() == 4).count();
    tracing::debug!(
        characters = count,
        "{what}: 4-byte characters stored as U+FFFD (3-byte utf8 column)"
    );
    Cow::Owned(
        text.chars()
            .map(|c| if c.len_utf8() == 4 { '\u{FFFD}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_gets_escapes_that_decode_to_the_same_text() {
        let json = serde_json::to_string(&serde_json::json!({"content": "hi 😀 ü €", "n": "𝄞"}))
            .expect("json");
        let fitted = fit_json(&json, true, "test");
        assert!(fitted.chars().all(|c| c.len_utf8() < 4), "{fitted}");
        assert!(
            fitted.contains(r"\ud83d\ude00") && fitted.contains("ü €"),
            "{fitted}"
        );
        let back: serde_json::Value = serde_json::from_str(&fitted).expect("valid json");
        assert_eq!(back, serde_json::json!({"content": "hi 😀 ü €", "n": "𝄞"}));
        assert!(matches!(fit_json(&json, false, "test"), Cow::Borrowed(_)));
        assert!(matches!(
            fit_json("{\"a\":\"ü\"}", true, "test"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn text_replaces_only_4_byte_characters() {
        assert_eq!(
            fit_text("a😀b ü €𝄞", true, "test"),
            "a\u{FFFD}b ü €\u{FFFD}"
        );
        assert_eq!(fit_text("a😀b", false, "test"), "a😀b");
    }

    #[test]
    fn three_byte_charsets() {
        assert!(is_narrow("utf8mb3") && is_narrow("UTF8") && is_narrow("ucs2"));
        assert!(!is_narrow("utf8mb4") && !is_narrow("binary"));
    }
}
