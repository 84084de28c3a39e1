//! Room messages a returning browser missed. A page whose socket dropped (a network
//! hiccup, a restart of the server) reconnects by itself and re-sends `enterRoom`;
//! whatever the room said between the drop and that `enterRoom` never reached it, and
//! an ILIAS page only loads the room's past messages when it is (re)loaded. So while a
//! room has someone away, its messages are kept here, briefly, and a socket of that
//! user entering the room again gets, in order, the ones broadcast after the drop —
//! and never one it received already (its own message, sent back to it directly
//! before it re-entered).
//!
//! "Away" is a mark per user and room: left when a socket that had entered the room
//! closes, or, after a restart, for each tab the snapshot says a present user had
//! (nothing of the new process reached them yet). A socket of the user entering the
//! room takes the newest mark (a tab that drops and comes back takes its own; taking
//! an older one would repeat messages). Marks last the grace period: a browser away
//! longer has been announced as gone, and comes back to a room that greets it anew.
//! PHP's `Connect` (a page being loaded, which shows the room's past messages itself)
//! drops the user's marks. Nothing is kept for a room nobody is away from, so a room
//! where everyone is present costs nothing.
//!
//! Pure data: the caller holds the lock around recording and broadcasting, and around
//! joining and replaying, so a message is either replayed or delivered live, never
//! both, never neither.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use socketioxide::socket::Sid;

use super::model::RoomKey;
use crate::ids::UserId;

/// Messages kept per room at most (a room where someone is away, at 100 messages a
/// second, for a 15 s grace period would need more: the oldest go first).
pub const MAX_PER_ROOM: usize = 1000;

/// One broadcast `message`, as sent.
#[derive(Debug)]
struct Kept {
    seq: u64,
    at_ms: i64,
    payload: Arc<Value>,
    /// Sockets it was sent to directly (a sender not in the room yet).
    direct: Vec<Sid>,
}

/// When a socket of a user left a room: messages from `seq` on were not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    seq: u64,
    at_ms: i64,
}

/// What one room keeps.
#[derive(Debug, Default)]
struct RoomReplay {
    away: HashMap<UserId, Vec<Mark>>,
    kept: VecDeque<Kept>,
}

impl RoomReplay {
    /// Drops marks older than `max_age_ms` and messages nobody can miss any more.
    fn prune(&mut self, now_ms: i64, max_age_ms: i64) {
        let oldest = now_ms.saturating_sub(max_age_ms);
        self.away.retain(|_, marks| {
            marks.retain(|m| m.at_ms >= oldest);
            !marks.is_empty()
        });
        let first_needed = self
            .away
            .values()
            .flatten()
            .map(|m| m.seq)
            .min()
            .unwrap_or(u64::MAX);
        while let Some(front) = self.kept.front() {
            if front.seq < first_needed || front.at_ms < oldest {
                self.kept.pop_front();
            } else {
                break;
            }
        }
    }
}

/// The replay state of the chat rooms of one client.
#[derive(Debug, Default)]
pub struct Replay {
    next_seq: u64,
    rooms: HashMap<RoomKey, RoomReplay>,
    /// The rooms each socket entered, and its user: what its closing leaves marks in.
    entered: HashMap<Sid, (UserId, Vec<RoomKey>)>,
}

impl Replay {
    /// A socket of `user` entered `key` (already joined to its socket.io room): the
    /// messages it missed since the newest mark of its user there, oldest first.
    pub fn enter(
        &mut self,
        sid: Sid,
        user: UserId,
        key: RoomKey,
        now_ms: i64,
        max_age_ms: i64,
    ) -> Vec<Arc<Value>> {
        let (_, rooms) = self
            .entered
            .entry(sid)
            .or_insert_with(|| (user, Vec::new()));
        if !rooms.contains(&key) {
            rooms.push(key);
        }
        let Some(room) = self.rooms.get_mut(&key) else {
            return Vec::new();
        };
        room.prune(now_ms, max_age_ms);
        let mark = room.away.get_mut(&user).and_then(|marks| {
            let newest = marks.iter().enumerate().max_by_key(|(_, m)| m.seq)?.0;
            Some(marks.swap_remove(newest))
        });
        let missed = match mark {
            Some(mark) => room
                .kept
                .iter()
                .filter(|k| k.seq >= mark.seq && !k.direct.contains(&sid))
                .map(|k| k.payload.clone())
                .collect(),
            None => Vec::new(),
        };
        room.prune(now_ms, max_age_ms);
        if room.away.is_empty() {
            self.rooms.remove(&key);
        }
        missed
    }

    /// A socket closed: its user is away from every room it had entered.
    pub fn socket_closed(&mut self, sid: Sid, now_ms: i64) {
        let Some((user, rooms)) = self.entered.remove(&sid) else {
            return;
        };
        for key in rooms {
            self.mark_away(user, key, now_ms);
        }
    }

    /// The user is away from the room from now on (a tab that has not come back).
    pub fn mark_away(&mut self, user: UserId, key: RoomKey, now_ms: i64) {
        let mark = Mark {
            seq: self.next_seq,
            at_ms: now_ms,
        };
        self.rooms
            .entry(key)
            .or_default()
            .away
            .entry(user)
            .or_default()
            .push(mark);
    }

    /// A page of the user is being loaded (PHP `Connect`): it shows the room's past
    /// messages itself, so nothing is replayed to the user.
    pub fn forget_user(&mut self, user: UserId) {
        self.rooms.retain(|_, room| {
            room.away.remove(&user);
            !room.away.is_empty()
        });
    }

    /// Whether messages of the room are kept now (someone is away from it).
    pub fn watching(&mut self, key: RoomKey, now_ms: i64, max_age_ms: i64) -> bool {
        let Some(room) = self.rooms.get_mut(&key) else {
            return false;
        };
        room.prune(now_ms, max_age_ms);
        if room.away.is_empty() {
            self.rooms.remove(&key);
            return false;
        }
        true
    }

    /// Whether the user has a socket on its way back into the room (call after
    /// [`Replay::watching`], which drops what is too old).
    pub fn is_away(&self, user: UserId, key: RoomKey) -> bool {
        self.rooms
            .get(&key)
            .is_some_and(|room| room.away.contains_key(&user))
    }

    /// Keeps a message broadcast to the room (call [`Replay::watching`] first; the
    /// payload is only made when it is kept).
    pub fn keep(&mut self, key: RoomKey, payload: Value, direct: Vec<Sid>, now_ms: i64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(room) = self.rooms.get_mut(&key) else {
            return;
        };
        if room.kept.len() >= MAX_PER_ROOM {
            room.kept.pop_front();
        }
        room.kept.push_back(Kept {
            seq,
            at_ms: now_ms,
            payload: Arc::new(payload),
            direct,
        });
    }

    /// How many messages are kept, over all rooms (for tests and the status).
    pub fn kept(&self) -> usize {
        self.rooms.values().map(|r| r.kept.len()).sum()
    }

    /// Sockets known to have entered rooms, and users' away marks (for the status).
    pub fn held(&self) -> (usize, usize) {
        let marks = self
            .rooms
            .values()
            .flat_map(|r| r.away.values())
            .map(Vec::len)
            .sum();
        (self.entered.len(), marks)
    }

    /// Drops, in every room, the marks and messages older than `max_age_ms`, and the
    /// rooms left with nobody away: a room nobody speaks in after a wave of departures
    /// would otherwise keep its marks.
    pub fn prune_all(&mut self, now_ms: i64, max_age_ms: i64) {
        self.rooms.retain(|_, room| {
            room.prune(now_ms, max_age_ms);
            !room.away.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AGE: i64 = 15_000;
    const ROOM: RoomKey = RoomKey {
        room_id: 7,
        sub_room: 0,
    };

    fn texts(values: &[Arc<Value>]) -> Vec<String> {
        values
            .iter()
            .map(|v| v["m"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn say(replay: &mut Replay, text: &str, direct: Vec<Sid>, now: i64) {
        if replay.watching(ROOM, now, AGE) {
            replay.keep(ROOM, json!({ "m": text }), direct, now);
        }
    }

    #[test]
    fn nothing_is_kept_while_nobody_is_away() {
        let mut replay = Replay::default();
        let a = Sid::new();
        assert!(replay.enter(a, 1, ROOM, 0, AGE).is_empty());
        say(&mut replay, "x", vec![], 1);
        assert_eq!(replay.kept(), 0);
    }

    #[test]
    fn a_returning_socket_gets_what_was_said_after_it_left_once_in_order() {
        let mut replay = Replay::default();
        let (a, b) = (Sid::new(), Sid::new());
        replay.enter(a, 1, ROOM, 0, AGE);
        replay.enter(b, 2, ROOM, 0, AGE);
        say(&mut replay, "before", vec![], 10);
        replay.socket_closed(a, 20);
        say(&mut replay, "one", vec![], 30);
        say(&mut replay, "two", vec![], 40);
        let again = Sid::new();
        assert_eq!(
            texts(&replay.enter(again, 1, ROOM, 50, AGE)),
            ["one", "two"]
        );
        // Nobody is away any more: nothing kept, nothing replayed twice.
        assert_eq!(replay.kept(), 0);
        say(&mut replay, "three", vec![], 60);
        assert!(replay.enter(Sid::new(), 1, ROOM, 70, AGE).is_empty());
    }

    #[test]
    fn what_a_socket_got_directly_is_not_replayed_to_it() {
        let mut replay = Replay::default();
        replay.mark_away(1, ROOM, 0);
        replay.mark_away(2, ROOM, 0);
        let (a, b) = (Sid::new(), Sid::new());
        say(&mut replay, "from a", vec![a], 10);
        assert!(replay.enter(a, 1, ROOM, 20, AGE).is_empty());
        assert_eq!(texts(&replay.enter(b, 2, ROOM, 30, AGE)), ["from a"]);
    }

    #[test]
    fn marks_last_the_grace_period_and_connect_drops_them() {
        let mut replay = Replay::default();
        replay.mark_away(1, ROOM, 0);
        say(&mut replay, "late", vec![], 10);
        assert!(replay.enter(Sid::new(), 1, ROOM, AGE + 1, AGE).is_empty());
        replay.mark_away(2, ROOM, 100);
        say(&mut replay, "reload", vec![], 110);
        replay.forget_user(2);
        assert!(replay.enter(Sid::new(), 2, ROOM, 120, AGE).is_empty());
        assert_eq!(replay.kept(), 0);
    }

    #[test]
    fn two_tabs_each_come_back_and_the_newest_mark_goes_first() {
        let mut replay = Replay::default();
        replay.mark_away(1, ROOM, 0);
        replay.mark_away(1, ROOM, 0);
        say(&mut replay, "one", vec![], 10);
        assert_eq!(texts(&replay.enter(Sid::new(), 1, ROOM, 20, AGE)), ["one"]);
        say(&mut replay, "two", vec![], 30);
        assert_eq!(
            texts(&replay.enter(Sid::new(), 1, ROOM, 40, AGE)),
            ["one", "two"]
        );
    }

    #[test]
    fn a_sender_on_its_way_back_gets_its_own_message_in_the_room_s_order() {
        let mut replay = Replay::default();
        replay.mark_away(1, ROOM, 0);
        replay.mark_away(2, ROOM, 0);
        say(&mut replay, "from 2", vec![], 10);
        assert!(replay.is_away(1, ROOM));
        say(&mut replay, "from 1", vec![], 20);
        assert_eq!(
            texts(&replay.enter(Sid::new(), 1, ROOM, 30, AGE)),
            ["from 2", "from 1"]
        );
        assert!(!replay.is_away(1, ROOM));
    }

    #[test]
    fn a_room_keeps_a_bounded_number() {
        let mut replay = Replay::default();
        replay.mark_away(1, ROOM, 0);
        for i in 0..MAX_PER_ROOM + 10 {
            say(&mut replay, &i.to_string(), vec![], 1);
        }
        let missed = replay.enter(Sid::new(), 1, ROOM, 2, AGE);
        assert_eq!(missed.len(), MAX_PER_ROOM);
        assert_eq!(texts(&missed[..1]), ["10"]);
    }
}
