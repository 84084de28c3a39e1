//! What recent session lookups found, so that reconnecting browsers do not each cost a
//! query, and so that a database outage does not lock out users verified shortly before.
//!
//! Pure bookkeeping: the caller passes the current time, which keeps it testable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::UserId;

/// How long a found session is trusted without asking the database again.
pub const POSITIVE_TTL: Duration = Duration::from_secs(30);
/// How long "no such live session" is remembered (a browser retrying with a stale
/// cookie, or a flood of made-up ones, then costs no query).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// While the database cannot be asked, a session found at most this long ago still
/// counts (never past the session's own `expires`).
pub const STALE_LIMIT: Duration = Duration::from_secs(10 * 60);
/// Entries kept at most; beyond it expired entries are dropped first.
pub const CAPACITY: usize = 50_000;

/// What is known about one session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Live {
        user: UserId,
        /// Unix time the session expires at (as of the lookup).
        expires: i64,
        checked: Instant,
    },
    Dead {
        checked: Instant,
    },
}

/// The answer the cache can give without the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// A live session of this user, checked recently.
    Live(UserId),
    /// No live session, checked recently.
    Dead,
    /// Not known recently: ask the database.
    Unknown,
}

/// Session id → what the last lookup found.
#[derive(Debug, Default)]
pub struct SessionCache {
    entries: HashMap<String, Entry>,
}

impl SessionCache {
    /// The fresh answer for `id`, if any.
    pub fn fresh(&self, id: &str, now: Instant, unix_now: i64) -> Cached {
        match self.entries.get(id) {
            Some(Entry::Live {
                user,
                expires,
                checked,
            }) if now.duration_since(*checked) < POSITIVE_TTL && *expires >= unix_now => {
                Cached::Live(*user)
            }
            Some(Entry::Dead { checked }) if now.duration_since(*checked) < NEGATIVE_TTL => {
                Cached::Dead
            }
            _ => Cached::Unknown,
        }
    }

    /// The user of `id` when the database cannot be asked: a session found live within
    /// [`STALE_LIMIT`] and not expired since.
    pub fn stale(&self, id: &str, now: Instant, unix_now: i64) -> Option<UserId> {
        match self.entries.get(id) {
            Some(Entry::Live {
                user,
                expires,
                checked,
            }) if now.duration_since(*checked) < STALE_LIMIT && *expires >= unix_now => Some(*user),
            _ => None,
        }
    }

    /// Records a session found live.
    pub fn live(&mut self, id: &str, user: UserId, expires: i64, now: Instant) {
        self.insert(
            id,
            Entry::Live {
                user,
                expires,
                checked: now,
            },
            now,
        );
    }

    /// Records a session id without a live session.
    pub fn dead(&mut self, id: &str, now: Instant) {
        self.insert(id, Entry::Dead { checked: now }, now);
    }

    /// Number of entries (for tests and status).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, id: &str, entry: Entry, now: Instant) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(id) {
            self.evict(now);
        }
        self.entries.insert(id.to_owned(), entry);
    }

    /// Drops what no answer can come from any more; if that is not enough (a flood of
    /// made-up ids), drops every negative entry, and as a last resort everything:
    /// memory stays bounded, and the worst case is one more query per session.
    fn evict(&mut self, now: Instant) {
        self.entries.retain(|_, entry| match entry {
            Entry::Live { checked, .. } => now.duration_since(*checked) < STALE_LIMIT,
            Entry::Dead { checked } => now.duration_since(*checked) < NEGATIVE_TTL,
        });
        if self.entries.len() >= CAPACITY {
            self.entries
                .retain(|_, entry| matches!(entry, Entry::Live { .. }));
        }
        if self.entries.len() >= CAPACITY {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIX: i64 = 1_700_000_000;

    #[test]
    fn live_entries_are_fresh_for_the_positive_ttl() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        assert_eq!(cache.fresh("s", t0, UNIX), Cached::Unknown);
        cache.live("s", 101, UNIX + 3600, t0);
        assert_eq!(cache.fresh("s", t0, UNIX), Cached::Live(101));
        let later = t0 + POSITIVE_TTL - Duration::from_millis(1);
        assert_eq!(cache.fresh("s", later, UNIX), Cached::Live(101));
        assert_eq!(cache.fresh("s", t0 + POSITIVE_TTL, UNIX), Cached::Unknown);
    }

    #[test]
    fn a_session_past_its_expiry_is_never_answered_from_the_cache() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        cache.live("s", 101, UNIX + 10, t0);
        assert_eq!(cache.fresh("s", t0, UNIX + 11), Cached::Unknown);
        assert_eq!(cache.stale("s", t0, UNIX + 11), None);
    }

    #[test]
    fn dead_entries_are_fresh_for_the_negative_ttl() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        cache.dead("x", t0);
        assert_eq!(cache.fresh("x", t0, UNIX), Cached::Dead);
        assert_eq!(cache.fresh("x", t0 + NEGATIVE_TTL, UNIX), Cached::Unknown);
        // A dead session never vouches for anyone during an outage.
        assert_eq!(cache.stale("x", t0, UNIX), None);
    }

    #[test]
    fn during_an_outage_recent_verifications_still_count_up_to_the_limit() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        cache.live("s", 101, UNIX + 86_400, t0);
        let after_ttl = t0 + POSITIVE_TTL + Duration::from_secs(1);
        assert_eq!(cache.fresh("s", after_ttl, UNIX), Cached::Unknown);
        assert_eq!(cache.stale("s", after_ttl, UNIX), Some(101));
        let near_limit = t0 + STALE_LIMIT - Duration::from_secs(1);
        assert_eq!(cache.stale("s", near_limit, UNIX), Some(101));
        assert_eq!(cache.stale("s", t0 + STALE_LIMIT, UNIX), None);
    }

    #[test]
    fn a_later_answer_replaces_the_earlier_one() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        cache.live("s", 101, UNIX + 3600, t0);
        cache.dead("s", t0);
        assert_eq!(cache.fresh("s", t0, UNIX), Cached::Dead);
        assert_eq!(cache.stale("s", t0, UNIX), None);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_made_up_ids() {
        let t0 = Instant::now();
        let mut cache = SessionCache::default();
        cache.live("real", 101, UNIX + 3600, t0);
        for i in 0..CAPACITY + 10 {
            cache.dead(&format!("fake{i}"), t0);
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
        // Negative entries go first: the verified user is still known.
        assert_eq!(cache.fresh("real", t0, UNIX), Cached::Live(101));
    }
}
