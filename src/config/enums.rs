//! Text forms of the small configuration value types: `FromStr` accepts what ILIAS (and
//! people editing the files by hand) write, `Display` gives the canonical spelling.

use std::fmt;
use std::str::FromStr;

use super::{DeletionUnit, Generation, LogLevel, TimeOfDay};

/// A word that is not one of the accepted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}")]
pub struct InvalidValue {
    /// The accepted values, for messages.
    pub expected: &'static str,
}

impl LogLevel {
    /// All levels, most severe first.
    pub const ALL: [LogLevel; 9] = [
        LogLevel::Emerg,
        LogLevel::Alert,
        LogLevel::Crit,
        LogLevel::Error,
        LogLevel::Warning,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Silly,
    ];

    /// The name ILIAS uses in server.cfg (`emerg` ... `silly`).
    pub fn as_str(&self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Silly => "silly",
        }
    }
}

impl FromStr for LogLevel {
    type Err = InvalidValue;

    /// Case-insensitive; also accepts winston's npm names `warn` and `verbose`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "warn" => return Ok(LogLevel::Warning),
            "verbose" => return Ok(LogLevel::Debug),
            _ => {}
        }
        LogLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == lower)
            .ok_or(InvalidValue {
                expected: "one of emerg, alert, crit, error, warning, notice, info, debug, silly",
            })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeletionUnit {
    /// The plural name ILIAS writes (`days`, `weeks`, `months`, `years`).
    pub fn as_str(&self) -> &'static str {
        match self {
            DeletionUnit::Days => "days",
            DeletionUnit::Weeks => "weeks",
            DeletionUnit::Months => "months",
            DeletionUnit::Years => "years",
        }
    }

    /// The singular name (`day`, ...), for "1 day".
    pub fn singular(&self) -> &'static str {
        let plural = self.as_str();
        &plural[..plural.len() - 1]
    }
}

impl FromStr for DeletionUnit {
    type Err = InvalidValue;

    /// Case-insensitive; singular forms are accepted too (the original accepted
    /// `month` besides `months`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "days" | "day" => Ok(DeletionUnit::Days),
            "weeks" | "week" => Ok(DeletionUnit::Weeks),
            "months" | "month" => Ok(DeletionUnit::Months),
            "years" | "year" => Ok(DeletionUnit::Years),
            _ => Err(InvalidValue {
                expected: "days, weeks, months or years",
            }),
        }
    }
}

impl fmt::Display for DeletionUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimeOfDay {
    type Err = InvalidValue;

    /// `HH:MM` or `H:MM`, 00:00 to 23:59.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = InvalidValue {
            expected: "HH:MM between 00:00 and 23:59",
        };
        let (hour, minute) = text.trim().split_once(':').ok_or(invalid)?;
        let digits = |part: &str, lengths: &[usize]| {
            (lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u8>().ok())
                .flatten()
        };
        match (digits(hour, &[1, 2]), digits(minute, &[2])) {
            (Some(hour), Some(minute)) if hour < 24 && minute < 60 => {
                Ok(TimeOfDay { hour, minute })
            }
            _ => Err(invalid),
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl Generation {
    /// The ILIAS major version (8 to 12).
    pub fn major(&self) -> u8 {
        match self {
            Generation::Ilias8 => 8,
            Generation::Ilias9 => 9,
            Generation::Ilias10 => 10,
            Generation::Ilias11 => 11,
            Generation::Ilias12 => 12,
        }
    }

    /// The release line of an ILIAS major version; releases newer than 12 get 12's
    /// profile (nothing newer is known), older ones 8's.
    pub fn of_major(major: u64) -> Generation {
        match major {
            0..=8 => Generation::Ilias8,
            9 => Generation::Ilias9,
            10 => Generation::Ilias10,
            11 => Generation::Ilias11,
            _ => Generation::Ilias12,
        }
    }

    /// ILIAS 8 and 9 HTML-escape message text on the server (and replace astral
    /// characters with `?`); ILIAS 10 un-escaped its stored history (Chatroom update
    /// step 6) and escapes in the browser, so 10+ must never escape.
    pub fn escapes_html(&self) -> bool {
        *self <= Generation::Ilias9
    }

    /// ILIAS 11's user settings delete the `chat_osc_accept_msg` row of a user who
    /// keeps the default, so a missing row means the administrator's default there;
    /// up to ILIAS 10 every account has a row and a missing one means "no".
    pub fn missing_accept_row_means_default(&self) -> bool {
        *self >= Generation::Ilias11
    }
}

impl FromStr for Generation {
    type Err = InvalidValue;

    /// `8`, `9`, `10`, `11` or `12`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "8" => Ok(Generation::Ilias8),
            "9" => Ok(Generation::Ilias9),
            "10" => Ok(Generation::Ilias10),
            "11" => Ok(Generation::Ilias11),
            "12" => Ok(Generation::Ilias12),
            _ => Err(InvalidValue {
                expected: "8, 9, 10, 11 or 12",
            }),
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major())
    }
}
