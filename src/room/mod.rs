//! Repository chat rooms: the socket.io namespace `/<name>` and the backend routes PHP
//! calls for rooms. Every inbound thing takes the same path: a socket event is parsed
//! into a [`events::RoomEvent`] and a backend request into a typed room address
//! ([`backend`]); the handler (one file per feature: [`enter`], [`message`], [`typing`],
//! [`private_room`], [`invite`], [`clear`], [`kick`], [`grace`]) asks the pure model
//! ([`model::RoomState`]) what happens, then emits ([`emit`]) and queues what ILIAS
//! keeps ([`persist`]).

pub mod backend;
mod clear;
mod emit;
mod enter;
pub mod events;
mod grace;
mod invite;
mod kick;
mod message;
pub mod model;
pub mod payload;
mod persist;
mod private_room;
pub mod replay;
mod socket;
mod typing;
mod userlist;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use tokio::task::AbortHandle;

use crate::client::{Client, lock};
use crate::ids::UserId;

pub use grace::{
    DEFAULT_RECONNECT_WINDOW, forget_departures, grace_period, reconnect_window,
    set_reconnect_window,
};
pub use model::{RoomKey, RoomState};
pub use persist::{pause, start, stop};
pub use userlist::{DEFAULT_USERLIST_INTERVAL, set_userlist_interval};

/// The chat rooms of one ILIAS client: the client it belongs to and the state only
/// rooms have.
#[derive(Debug)]
pub struct RoomChat {
    /// What rooms share with the on-screen chat (config, database, write queue).
    pub client: Arc<Client>,
    state: Mutex<RoomState>,
    /// Pending "left the chat" timers, one per user whose last socket closed.
    grace_timers: Mutex<HashMap<UserId, AbortHandle>>,
    /// Set when the state came from the restart snapshot: what the start-up clean-up
    /// keeps.
    kept_presence: Mutex<Option<persist::Kept>>,
    /// Messages kept for browsers on their way back (see [`replay`]). Held around a
    /// message's broadcast and around a socket's joining a room, never across an
    /// `.await`, never while taking the other locks.
    replay: Mutex<replay::Replay>,
    /// When each room's user list last went out (see [`userlist`]).
    userlists: Mutex<userlist::Pacing>,
    /// Held by an entry from the model's `enter` to its `connect` notice
    /// ([`enter::enter_room`]): entries are handled one at a time there, as the original's
    /// single thread handled them, so of two users entering at once only the second is
    /// announced to the first. Never held across an `.await`; taken before the other locks.
    entering: Mutex<()>,
}

impl RoomChat {
    /// Replay state (see [`replay`]): sockets that entered rooms, and away marks.
    pub fn replay_held(&self) -> (usize, usize) {
        lock(&self.replay).held()
    }

    /// Drops replay marks and messages older than the grace period, and the user-list
    /// pace of rooms that were quiet for longer than its interval.
    fn sweep(&self) {
        let max_age = i64::try_from(grace_period().as_millis()).unwrap_or(i64::MAX);
        lock(&self.replay).prune_all(crate::clock::now_ms(), max_age);
        userlist::sweep(self);
    }

    /// Users whose grace period is running.
    pub fn grace_timer_count(&self) -> usize {
        lock(&self.grace_timers).len()
    }

    /// The chat rooms of a client, none known yet.
    pub fn new(client: Arc<Client>) -> RoomChat {
        RoomChat {
            client,
            state: Mutex::new(RoomState::default()),
            grace_timers: Mutex::new(HashMap::new()),
            kept_presence: Mutex::new(None),
            replay: Mutex::new(replay::Replay::default()),
            userlists: Mutex::new(userlist::Pacing::default()),
            entering: Mutex::new(()),
        }
    }

    /// Takes over the chat-room state of the restart snapshot (before any browser is
    /// served): the start-up clean-up then keeps these users' `chatroom_users` rows,
    /// and their grace periods start.
    pub fn restore(self: &Arc<Self>, saved: model::SavedRooms) -> usize {
        // Nothing this process says reached the restored users' tabs yet: each is away
        // from the rooms it was in until it enters again.
        let tabs: HashMap<UserId, usize> = saved
            .subscribers
            .iter()
            .map(|s| (s.id, s.tabs.max(1)))
            .collect();
        let (users, kept, present) = {
            let mut rooms = self.rooms();
            let users = rooms.restore(saved);
            let (private_rooms, private_sessions) = rooms.private_registrations();
            let kept = persist::Kept {
                presence: rooms.registrations(),
                private_rooms,
                private_sessions,
            };
            (users, kept, rooms.present())
        };
        *lock(&self.kept_presence) = Some(kept);
        {
            let now = crate::clock::now_ms();
            let mut replay = lock(&self.replay);
            for (key, user) in present {
                for _ in 0..tabs.get(&user).copied().unwrap_or(1) {
                    replay.mark_away(user, key, now);
                }
            }
        }
        grace::resume(self, &users);
        users.len()
    }

    /// The instance name of the client.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// Chat-room state. The lock is never held across an `.await`.
    pub fn rooms(&self) -> MutexGuard<'_, RoomState> {
        lock(&self.state)
    }

    /// The connected socket with this id in the chat-room namespace.
    pub fn socket(&self, sid: Sid) -> Option<SocketRef> {
        self.client
            .socket(&self.client.config.room_namespace(), sid)
    }

    /// Arms (or re-arms) the grace timer of a user; the previous one is cancelled.
    fn arm_grace_timer(&self, user: UserId, timer: AbortHandle) {
        if let Some(previous) = lock(&self.grace_timers).insert(user, timer) {
            previous.abort();
        }
    }

    /// Cancels the grace timer of a user, if any.
    fn cancel_grace_timer(&self, user: UserId) {
        if let Some(timer) = lock(&self.grace_timers).remove(&user) {
            timer.abort();
        }
    }

    /// Forgets a fired timer (without aborting the task that is running it).
    fn grace_timer_fired(&self, user: UserId) {
        lock(&self.grace_timers).remove(&user);
    }
}
