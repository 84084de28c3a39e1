//! Which ILIAS release created a client's database, and the settings of that release
//! the server reads from the core `settings` table.

use sqlx::Row;

use super::{Store, StoreError};
use crate::config::Generation;

/// A release line read from the database, with how it was decided (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub generation: Generation,
    /// E.g. `settings ilias_version = 11.6` or `chat tables (chatroom_smilies present)`.
    pub how: String,
}

impl Store {
    /// Tells which ILIAS release line this database belongs to. Every ILIAS 8+ setup
    /// writes `settings` (`common`, `ilias_version`), so that decides when it can be
    /// read. Otherwise the chat tables do: ILIAS 8 still has the private-room tables,
    /// ILIAS 9 dropped them but kept `chatroom_smilies`, ILIAS 10 dropped that too;
    /// 10, 11 and 12 have the same chat tables, so that fallback says 10.
    pub async fn detect_generation(&self) -> Result<Detection, StoreError> {
        match self.common_setting("ilias_version").await {
            Ok(Some(version)) => {
                if let Some(major) = major_of(&version) {
                    return Ok(Detection {
                        generation: Generation::of_major(major),
                        how: format!("settings ilias_version = {version}"),
                    });
                }
                tracing::debug!(%version, "settings ilias_version is not a version number");
            }
            Ok(None) => {}
            // No settings table (a chat-only copy of the database): use the tables.
            Err(error) => tracing::debug!(%error, "cannot read settings ilias_version"),
        }
        let detection = |generation, why: &str| Detection {
            generation,
            how: format!("chat tables ({why}; no settings ilias_version)"),
        };
        Ok(if self.table_exists("chatroom_prooms").await? {
            detection(Generation::Ilias8, "chatroom_prooms present")
        } else if self.table_exists("chatroom_smilies").await? {
            detection(Generation::Ilias9, "chatroom_smilies present")
        } else {
            detection(
                Generation::Ilias10,
                "no chatroom_smilies; 10, 11 and 12 look alike, assuming 10",
            )
        })
    }

    /// A value of the core `settings` table, module `common`; `None` when the row is
    /// missing. Fails when the table cannot be read.
    pub async fn common_setting(&self, keyword: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE module = 'common' AND keyword = ?")
            .bind(keyword)
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::query("reading a setting"))?;
        row.map(|row| row.try_get::<Option<String>, _>(0))
            .transpose()
            .map(Option::flatten)
            .map_err(StoreError::query("reading a setting"))
    }
}

/// The major number of an ILIAS version string such as `11.6`, `10.0_beta3` or
/// `9.1 2024-05-06`.
fn major_of(version: &str) -> Option<u64> {
    let digits: String = version
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|major| *major > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_of_ilias_version_strings() {
        assert_eq!(major_of("11.6"), Some(11));
        assert_eq!(major_of(" 10.0_beta3"), Some(10));
        assert_eq!(major_of("9.1 2024-05-06"), Some(9));
        assert_eq!(major_of("3.2.3 2004-11-22"), Some(3));
        assert_eq!(major_of("trunk"), None);
        assert_eq!(major_of(""), None);
    }

    #[test]
    fn majors_map_to_profiles() {
        assert_eq!(Generation::of_major(3), Generation::Ilias8);
        assert_eq!(Generation::of_major(10), Generation::Ilias10);
        assert_eq!(Generation::of_major(11), Generation::Ilias11);
        assert_eq!(Generation::of_major(12), Generation::Ilias12);
        assert_eq!(Generation::of_major(13), Generation::Ilias12);
    }
}
