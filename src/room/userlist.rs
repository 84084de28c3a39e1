//! The pace of a room's user list. By protocol every change of who is in a room (an
//! entry, a departure, a kick) sends the whole list to everyone in it, so a room that
//! fills up at once — a lecture starting, a restart bringing everybody back — costs
//! O(users²) in frames and bytes, and every browser's websocket writer keeps a buffer
//! the size of the largest burst it was sent, for good.
//!
//! A browser only ever shows the newest list it got (ILIAS's `userlist` handler
//! replaces the list), so a list superseded before it could be seen need not be sent:
//! a room's list goes out at once when the room had none for the interval
//! (server.cfg `userlist_interval`, [`DEFAULT_USERLIST_INTERVAL`]); a change
//! within the interval is sent once at its end, as the room's list at that moment
//! (every change of the interval in it). An isolated change reads exactly as the
//! original server's; in a burst a browser may get a `connect` notice a moment before
//! the list that shows the new user.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::model::RoomKey;
use super::{RoomChat, emit};
use crate::client::lock;

/// The least time between two user lists to a room when server.cfg says nothing: a
/// room filling at once (all entries within a few tens of milliseconds) gets two lists,
/// and a browser sees a newcomer in its list at most this late.
pub const DEFAULT_USERLIST_INTERVAL: Duration = Duration::from_millis(100);

static INTERVAL_MS: AtomicU64 = AtomicU64::new(100);

/// Sets the interval (server.cfg `userlist_interval`; zero sends a list for every
/// change, as the original).
pub fn set_userlist_interval(interval: Duration) {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    INTERVAL_MS.store(ms, Ordering::Relaxed);
}

fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed))
}

/// When the rooms' user lists went out, and which rooms have one due.
#[derive(Debug, Default)]
pub struct Pacing {
    rooms: HashMap<RoomKey, Paced>,
}

#[derive(Debug, Clone, Copy)]
struct Paced {
    sent_at: Instant,
    due: bool,
}

/// What a change of a room's members asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// The list goes to the room now.
    Now,
    /// A list goes to the room at the end of the interval (already arranged, or to be
    /// arranged at the given time).
    Later(Option<Instant>),
}

impl Pacing {
    /// Notes a change of a room's members at `now`.
    pub fn changed(&mut self, key: RoomKey, now: Instant, interval: Duration) -> Send {
        match self.rooms.get_mut(&key) {
            Some(paced) if paced.due => Send::Later(None),
            Some(paced) if now.duration_since(paced.sent_at) < interval => {
                paced.due = true;
                Send::Later(Some(paced.sent_at + interval))
            }
            _ => {
                self.rooms.insert(
                    key,
                    Paced {
                        sent_at: now,
                        due: false,
                    },
                );
                Send::Now
            }
        }
    }

    /// The list that was due goes out now.
    fn sending(&mut self, key: RoomKey, now: Instant) {
        self.rooms.insert(
            key,
            Paced {
                sent_at: now,
                due: false,
            },
        );
    }

    /// Forgets rooms whose last list is older than the interval and that have none due:
    /// they read as never sent.
    pub fn prune(&mut self, now: Instant, interval: Duration) {
        self.rooms
            .retain(|_, paced| paced.due || now.duration_since(paced.sent_at) < interval);
    }
}

/// Forgets the pace of rooms that were quiet for longer than the interval.
pub(super) fn sweep(chat: &RoomChat) {
    lock(&chat.userlists).prune(Instant::now(), interval());
}

/// A room's members changed: its list goes to everyone in it now, or at the end of the
/// interval.
pub(super) async fn announce(chat: &Arc<RoomChat>, key: RoomKey) {
    if pace(chat, key) == Send::Now {
        emit::userlist_to_room(chat, key).await;
    }
}

/// A room's members changed: whether the caller sends the list now; if not, it is sent
/// at the end of the interval.
pub(super) fn pace(chat: &Arc<RoomChat>, key: RoomKey) -> Send {
    let send = lock(&chat.userlists).changed(key, Instant::now(), interval());
    if let Send::Later(Some(at)) = send {
        let chat = chat.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            // Cleared before the list is read: a change after this point is in the list
            // or arranges the next one.
            lock(&chat.userlists).sending(key, Instant::now());
            emit::userlist_to_room(&chat, key).await;
        });
    }
    send
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = DEFAULT_USERLIST_INTERVAL;

    const ROOM: RoomKey = RoomKey {
        room_id: 1,
        sub_room: 0,
    };

    #[test]
    fn a_change_after_a_quiet_interval_is_sent_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        assert_eq!(pacing.changed(ROOM, start, INTERVAL), Send::Now);
        assert_eq!(pacing.changed(ROOM, start + INTERVAL, INTERVAL), Send::Now);
        let other = RoomKey {
            room_id: 2,
            sub_room: 0,
        };
        assert_eq!(pacing.changed(other, start + INTERVAL, INTERVAL), Send::Now);
    }

    #[test]
    fn a_zero_interval_sends_every_change_as_the_original() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        for _ in 0..3 {
            assert_eq!(pacing.changed(ROOM, start, Duration::ZERO), Send::Now);
        }
    }

    #[test]
    fn changes_within_the_interval_arrange_one_list_at_its_end() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        assert_eq!(pacing.changed(ROOM, start, INTERVAL), Send::Now);
        let soon = start + INTERVAL / 5;
        assert_eq!(
            pacing.changed(ROOM, soon, INTERVAL),
            Send::Later(Some(start + INTERVAL))
        );
        assert_eq!(pacing.changed(ROOM, soon, INTERVAL), Send::Later(None));
        // Even after the interval, as long as the arranged list has not gone out.
        assert_eq!(
            pacing.changed(ROOM, start + INTERVAL * 2, INTERVAL),
            Send::Later(None)
        );
        pacing.sending(ROOM, start + INTERVAL);
        assert_eq!(
            pacing.changed(ROOM, start + INTERVAL + INTERVAL / 2, INTERVAL),
            Send::Later(Some(start + INTERVAL * 2))
        );
    }

    #[test]
    fn prune_keeps_rooms_with_a_list_due_or_sent_recently() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        let (a, b) = (
            ROOM,
            RoomKey {
                room_id: 2,
                sub_room: 0,
            },
        );
        pacing.changed(a, start, INTERVAL);
        pacing.changed(a, start, INTERVAL);
        pacing.changed(b, start, INTERVAL);
        pacing.prune(start + INTERVAL * 3, INTERVAL);
        assert_eq!(pacing.rooms.len(), 1, "only the room with a list due stays");
        pacing.sending(a, start + INTERVAL * 3);
        pacing.prune(start + INTERVAL * 5, INTERVAL);
        assert!(pacing.rooms.is_empty());
    }
}
