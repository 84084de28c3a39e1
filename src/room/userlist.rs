//! The pace of a room's user list. By protocol every change of who is in a room (an
//! entry, a departure, a kick) sends the whole list to everyone in it, so a room that
//! fills up at once — a lecture starting, a restart bringing everybody back — costs
//! O(users²) in frames and bytes, and every browser's websocket writer keeps a buffer
//! the size of the largest burst it was sent, for good.
//!
//! A browser only ever shows the newest list it got (ILIAS's `userlist` handler
//! replaces the list), so a list superseded before it could be seen need not be sent:
//! a room gets its list at once as long as its changes come no faster than one per
//! interval (server.cfg `userlist_interval`, [`DEFAULT_USERLIST_INTERVAL`]), with an
//! allowance of two at once; a room changing faster gets one list per interval, the
//! room as it is when the list goes out (every change since in it). Such changes read
//! exactly as the original server's; in a burst a browser may get a `connect` notice a
//! moment before the list that shows the new user. Sent at once, a list leaves in the
//! same write as the notice that follows it; held back, in one of its own — which is why
//! a room is only held back when that saves lists.

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

/// How many lists a room may get at once before the pace holds them back: two, so that
/// entries that merely happen to come close together (two in an interval) are sent as
/// the original sends them, each list in the same write as its notice; only a room
/// changing faster than one list per interval for longer is paced.
const BURST: u32 = 2;

/// When the rooms' user lists went out, and which rooms have one due.
#[derive(Debug, Default)]
pub struct Pacing {
    rooms: HashMap<RoomKey, Paced>,
}

#[derive(Debug, Clone, Copy)]
struct Paced {
    /// Each list sent moves this one interval on (from now at the earliest); a list may go
    /// out at once while it is at most `BURST - 1` intervals ahead.
    busy_until: Instant,
    due: bool,
}

/// What a change of a room's members asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// The list goes to the room now.
    Now,
    /// A list goes to the room later (already arranged, or to be arranged at the given
    /// time).
    Later(Option<Instant>),
}

impl Pacing {
    /// Notes a change of a room's members at `now`.
    pub fn changed(&mut self, key: RoomKey, now: Instant, interval: Duration) -> Send {
        let paced = self.room(key, now);
        if paced.due {
            return Send::Later(None);
        }
        let busy = paced.busy_until.max(now);
        let ahead = interval * (BURST - 1);
        if busy <= now + ahead {
            paced.busy_until = busy + interval;
            Send::Now
        } else {
            paced.due = true;
            Send::Later(Some(busy - ahead))
        }
    }

    /// The list that was due goes out now.
    fn sending(&mut self, key: RoomKey, now: Instant, interval: Duration) {
        let paced = self.room(key, now);
        paced.busy_until = paced.busy_until.max(now) + interval;
        paced.due = false;
    }

    /// A room's pace; a room not remembered may send at once.
    fn room(&mut self, key: RoomKey, now: Instant) -> &mut Paced {
        self.rooms.entry(key).or_insert(Paced {
            busy_until: now,
            due: false,
        })
    }

    /// Forgets rooms that may send at once again and have no list due: they read as
    /// never sent.
    pub fn prune(&mut self, now: Instant) {
        self.rooms
            .retain(|_, paced| paced.due || paced.busy_until > now);
    }
}

/// Forgets the pace of rooms that were quiet for longer than the interval.
pub(super) fn sweep(chat: &RoomChat) {
    lock(&chat.userlists).prune(Instant::now());
}

/// A room's members changed: its list goes to everyone in it now, or at the end of the
/// interval.
pub(super) fn announce(chat: &Arc<RoomChat>, key: RoomKey) {
    if pace(chat, key) == Send::Now {
        send_now(chat, key);
    }
}

/// Sends a room's list as it is now. The pace's lock is held from reading the members to
/// the end of the broadcast: two changes handled side by side on two threads could
/// otherwise send their lists in the opposite order of their reads, and the room would
/// keep the older one.
pub(super) fn send_now(chat: &RoomChat, key: RoomKey) {
    let _in_order = lock(&chat.userlists);
    emit::userlist_to_room(chat, key);
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
            lock(&chat.userlists).sending(key, Instant::now(), interval());
            send_now(&chat, key);
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
    fn changes_slower_than_one_per_interval_are_sent_at_once() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        for step in 0..10 {
            let at = start + INTERVAL * step;
            assert_eq!(pacing.changed(ROOM, at, INTERVAL), Send::Now, "step {step}");
        }
        // Two close together, as entries of a quiet room may come: both at once.
        let later = start + INTERVAL * 20;
        assert_eq!(pacing.changed(ROOM, later, INTERVAL), Send::Now);
        assert_eq!(pacing.changed(ROOM, later, INTERVAL), Send::Now);
    }

    #[test]
    fn a_zero_interval_sends_every_change_as_the_original() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        for _ in 0..5 {
            assert_eq!(pacing.changed(ROOM, start, Duration::ZERO), Send::Now);
        }
    }

    #[test]
    fn a_burst_gets_two_lists_at_once_then_one_per_interval() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        assert_eq!(pacing.changed(ROOM, start, INTERVAL), Send::Now);
        assert_eq!(pacing.changed(ROOM, start, INTERVAL), Send::Now);
        assert_eq!(
            pacing.changed(ROOM, start, INTERVAL),
            Send::Later(Some(start + INTERVAL))
        );
        // Arranged already: the list sent then carries these changes too.
        assert_eq!(pacing.changed(ROOM, start, INTERVAL), Send::Later(None));
        assert_eq!(
            pacing.changed(ROOM, start + INTERVAL * 5, INTERVAL),
            Send::Later(None),
            "still due until it is sent"
        );
        pacing.sending(ROOM, start + INTERVAL, INTERVAL);
        assert_eq!(
            pacing.changed(ROOM, start + INTERVAL, INTERVAL),
            Send::Later(Some(start + INTERVAL * 2))
        );
        // Another room is not held back.
        let other = RoomKey {
            room_id: 2,
            sub_room: 0,
        };
        assert_eq!(pacing.changed(other, start, INTERVAL), Send::Now);
    }

    #[test]
    fn changes_faster_than_one_per_interval_are_paced_after_the_burst() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        let every = INTERVAL * 6 / 10;
        let sends: Vec<Send> = (0..4)
            .map(|step| pacing.changed(ROOM, start + every * step, INTERVAL))
            .collect();
        assert_eq!(
            sends,
            [
                Send::Now,
                Send::Now,
                Send::Now,
                Send::Later(Some(start + INTERVAL * 2))
            ]
        );
    }

    #[test]
    fn prune_keeps_rooms_with_a_list_due_or_held_back() {
        let start = Instant::now();
        let mut pacing = Pacing::default();
        let (a, b) = (
            ROOM,
            RoomKey {
                room_id: 2,
                sub_room: 0,
            },
        );
        for _ in 0..3 {
            pacing.changed(a, start, INTERVAL);
        }
        pacing.changed(b, start, INTERVAL);
        pacing.prune(start + INTERVAL * 3);
        assert_eq!(pacing.rooms.len(), 1, "only the room with a list due stays");
        pacing.sending(a, start + INTERVAL * 3, INTERVAL);
        pacing.prune(start + INTERVAL * 5);
        assert!(pacing.rooms.is_empty());
    }
}
