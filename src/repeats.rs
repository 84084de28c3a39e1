//! Log lines that repeat, aggregated: the first occurrence of a kind of line is
//! logged, later ones within [`SUMMARY_INTERVAL`] only counted, and the count logged
//! with the next occurrence after the interval (or when its scope ends, such as a
//! socket closing). One browser sending 100,000 malformed events then costs a handful
//! of lines instead of 100,000, and journald's rate limit does not start swallowing
//! everybody else's lines (errors included).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often a repeating line is summarised at most.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// What to log for one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first of its kind (in its scope): log it in full.
    First,
    /// Counted, not logged.
    Quiet,
    /// Log a summary: this many occurred (this one included) since the last line.
    Summary(u64),
}

/// A count left over when a scope ends: `count` occurrences of `what` not yet logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub what: String,
    pub count: u64,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    unlogged: u64,
}

/// Occurrences per scope (a socket id, a client) and kind of line.
#[derive(Debug, Default)]
pub struct Repeats {
    scopes: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

impl Repeats {
    /// The process-wide counts.
    pub fn global() -> &'static Repeats {
        static GLOBAL: OnceLock<Repeats> = OnceLock::new();
        GLOBAL.get_or_init(Repeats::default)
    }

    /// Counts one occurrence of `what` in `scope` and says what to log.
    pub fn note(&self, scope: &str, what: &str) -> Verdict {
        self.note_at(scope, what, Instant::now())
    }

    fn note_at(&self, scope: &str, what: &str, now: Instant) -> Verdict {
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        let kinds = match scopes.get_mut(scope) {
            Some(kinds) => kinds,
            None => scopes.entry(scope.to_owned()).or_default(),
        };
        match kinds.get_mut(what) {
            None => {
                kinds.insert(
                    what.to_owned(),
                    Entry {
                        since: now,
                        unlogged: 0,
                    },
                );
                Verdict::First
            }
            Some(entry) => {
                entry.unlogged += 1;
                if now.duration_since(entry.since) >= SUMMARY_INTERVAL {
                    let count = entry.unlogged;
                    entry.since = now;
                    entry.unlogged = 0;
                    Verdict::Summary(count)
                } else {
                    Verdict::Quiet
                }
            }
        }
    }

    /// Ends a scope: what was counted and not logged yet.
    pub fn forget(&self, scope: &str) -> Vec<Leftover> {
        let removed = self
            .scopes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(scope);
        let mut leftovers: Vec<Leftover> = removed
            .into_iter()
            .flatten()
            .filter(|(_, entry)| entry.unlogged > 0)
            .map(|(what, entry)| Leftover {
                what,
                count: entry.unlogged,
            })
            .collect();
        leftovers.sort_by(|a, b| a.what.cmp(&b.what));
        leftovers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_logged_then_counted_then_summarised() {
        let repeats = Repeats::default();
        let start = Instant::now();
        assert_eq!(repeats.note_at("s1", "bad", start), Verdict::First);
        for _ in 0..99_999 {
            assert_eq!(repeats.note_at("s1", "bad", start), Verdict::Quiet);
        }
        let later = start + SUMMARY_INTERVAL;
        assert_eq!(
            repeats.note_at("s1", "bad", later),
            Verdict::Summary(100_000)
        );
        assert_eq!(repeats.note_at("s1", "bad", later), Verdict::Quiet);
        assert_eq!(
            repeats.forget("s1"),
            vec![Leftover {
                what: "bad".into(),
                count: 1
            }]
        );
        // A new scope of the same name starts afresh.
        assert_eq!(repeats.note_at("s1", "bad", later), Verdict::First);
    }

    #[test]
    fn scopes_and_kinds_are_separate() {
        let repeats = Repeats::default();
        let now = Instant::now();
        assert_eq!(repeats.note_at("s1", "a", now), Verdict::First);
        assert_eq!(repeats.note_at("s1", "b", now), Verdict::First);
        assert_eq!(repeats.note_at("s2", "a", now), Verdict::First);
        assert!(repeats.forget("s2").is_empty());
        assert!(repeats.forget("nothing").is_empty());
    }
}
