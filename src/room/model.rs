//! The in-memory state of the chat rooms of one ILIAS client: subscribers (users PHP
//! announced with `Connect`), rooms, who is registered (by PHP) and who has joined (by
//! the browser). Pure data and rules, no I/O, so every rule is unit-testable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use socketioxide::socket::Sid;

pub use crate::ids::UserId;

mod saved;
pub use saved::{SavedDeparture, SavedRoom, SavedRooms, SavedSubscriber};

/// A server room: an ILIAS chat room (`chatroom_settings.room_id`, the "scope") and,
/// on ILIAS 8, a private room inside it (0 = the main room).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoomKey {
    pub room_id: i64,
    pub sub_room: i64,
}

impl RoomKey {
    /// The main room of a chat room (the only kind on ILIAS 9 and 10).
    pub fn main(room_id: i64) -> RoomKey {
        RoomKey {
            room_id,
            sub_room: 0,
        }
    }

    /// The socket.io room name the original uses: `"<roomId>_<subRoomId>"`.
    pub fn socket_room(&self) -> String {
        format!("{}_{}", self.room_id, self.sub_room)
    }
}

/// A user PHP has announced (`Connect`), with the name and sockets of its browser tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: UserId,
    /// Chat name from the browser's `login` (trusted as in the original: PHP put it on
    /// the page). `None` until the first login.
    pub name: Option<String>,
    /// ILIAS 10+: whether the profile picture may be shown, as the last `login` said;
    /// `None` when it said nothing (the key is then left out, as in the original).
    pub profile_picture_visible: Option<bool>,
    pub sockets: Vec<Sid>,
}

impl Subscriber {
    fn new(id: UserId) -> Subscriber {
        Subscriber {
            id,
            name: None,
            profile_picture_visible: None,
            sockets: Vec::new(),
        }
    }

    /// The name shown to others; empty until the browser logged in.
    pub fn username(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// One server room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub key: RoomKey,
    pub title: String,
    pub owner: Option<String>,
    /// Users PHP allowed in (`EnterPrivateRoom`, `InvitePrivateRoom`).
    registered: BTreeSet<UserId>,
    /// Registered users whose browser entered (`enterRoom`), in order of entry.
    joined: Vec<UserId>,
}

impl Room {
    fn new(key: RoomKey, title: String, owner: Option<String>) -> Room {
        Room {
            key,
            title,
            owner,
            registered: BTreeSet::new(),
            joined: Vec::new(),
        }
    }

    /// Whether PHP registered this user here.
    pub fn is_registered(&self, user: UserId) -> bool {
        self.registered.contains(&user)
    }

    /// Whether this user's browser is in the room.
    pub fn has_joined(&self, user: UserId) -> bool {
        self.joined.contains(&user)
    }
}

/// Why a registration (PHP `EnterPrivateRoom`) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("unknown room")]
    UnknownRoom,
    #[error("unknown user (no Connect for this user)")]
    UnknownUser,
}

/// Why a browser's `enterRoom` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnterError {
    #[error("socket has not logged in")]
    NotLoggedIn,
    #[error("unknown room")]
    UnknownRoom,
    #[error("user is not registered in the room (PHP did not call EnterPrivateRoom)")]
    NotRegistered,
}

/// What a successful `enterRoom` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    pub subscriber: Subscriber,
    pub room_title: String,
    /// False the first time: then the welcome/connect notices go out.
    pub already_joined: bool,
    /// The user came back after their grace period ended (see [`RoomState::readmit`]):
    /// the `chatroom_users` row PHP wrote at entry was moved to the sessions and must
    /// be made again.
    pub rejoined: bool,
}

/// One row of a user list: joined ∩ registered users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: UserId,
    pub username: String,
    pub profile_picture_visible: Option<bool>,
}

/// Why a chat message or typing event from a socket was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpeakError {
    #[error("socket has not logged in (or the user was banned)")]
    NotLoggedIn,
    #[error("unknown room")]
    UnknownRoom,
    #[error("user is not registered in the room (kicked, banned or never entered)")]
    NotRegistered,
    #[error("whisper to unknown user {0}")]
    UnknownAddressee(UserId),
}

/// Who receives a chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// Every socket in the server room.
    Room,
    /// Only these sockets (a whisper: sender and addressee).
    Sockets(Vec<Sid>),
}

/// The outcome of [`RoomState::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sender: Subscriber,
    pub recipients: Recipients,
}

/// A user PHP removed from a room (`Kick`) or who left it (`LeavePrivateRoom`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub username: String,
    pub sockets: Vec<Sid>,
    pub room_title: String,
}

/// A user PHP banned from a chat room and all its private rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banned {
    pub username: String,
    pub sockets: Vec<Sid>,
    pub rooms: Vec<RoomKey>,
}

/// The outcome of `InvitePrivateRoom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    /// Name and sockets of the inviting user, when known.
    pub host: Option<(String, Vec<Sid>)>,
    pub invitee_sockets: Vec<Sid>,
    pub room_title: String,
    pub room_owner: Option<String>,
}

/// What the end of a user's grace period changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub username: String,
    /// Rooms the user was registered in (and has now left).
    pub rooms: Vec<RoomKey>,
    /// ILIAS 8 private rooms nobody is registered in any more.
    pub emptied: Vec<RoomKey>,
}

/// A user whose grace period ended while registered in rooms: within the reconnect
/// window their browser may come back into these rooms without PHP (a laptop lid
/// closed, a train tunnel), unless they were kicked or banned meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    pub name: Option<String>,
    pub profile_picture_visible: Option<bool>,
    pub rooms: Vec<RoomKey>,
    /// When the grace period ended (ms since the epoch).
    pub left_at_ms: i64,
}

/// A room removed by `DeletePrivateRoom` (ILIAS 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub title: String,
    /// Sockets of every user who was registered there.
    pub sockets: Vec<Sid>,
}

/// Counts of [`RoomState::held`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub socket_entries: usize,
    pub user_sockets: usize,
    pub departed_users: usize,
}

/// All chat-room state of one ILIAS client.
#[derive(Debug, Default)]
pub struct RoomState {
    subscribers: HashMap<UserId, Subscriber>,
    rooms: BTreeMap<RoomKey, Room>,
    /// Which user each logged-in socket speaks for.
    sockets: HashMap<Sid, UserId>,
    /// Users whose grace period ended, who may still come back (reconnect window).
    departed: HashMap<UserId, Departed>,
    /// Registrations given back by [`RoomState::readmit`] whose room was not entered
    /// again yet.
    rejoining: BTreeSet<(RoomKey, UserId)>,
}

impl RoomState {
    /// Adds a room unless one with that key exists (start-up preload, `CreatePrivateRoom`).
    /// Returns whether it was added.
    pub fn add_room(&mut self, key: RoomKey, title: &str, owner: Option<String>) -> bool {
        if self.rooms.contains_key(&key) {
            return false;
        }
        self.rooms
            .insert(key, Room::new(key, title.to_string(), owner));
        true
    }

    /// Renames a room (the demo names its room; ILIAS calls preloaded rooms "Main").
    pub fn set_title(&mut self, key: RoomKey, title: &str) {
        if let Some(room) = self.rooms.get_mut(&key) {
            room.title = title.to_string();
        }
    }

    /// The room with this key.
    pub fn room(&self, key: RoomKey) -> Option<&Room> {
        self.rooms.get(&key)
    }

    /// Number of known rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Number of rooms with at least one user's browser in them.
    pub fn occupied_room_count(&self) -> usize {
        self.rooms.values().filter(|r| !r.joined.is_empty()).count()
    }

    /// Number of distinct users with a logged-in socket.
    pub fn logged_in_user_count(&self) -> usize {
        self.sockets
            .values()
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// What the model holds per connected browser: socket → user entries, sockets
    /// listed under their users, and users who may still come back.
    pub fn held(&self) -> Held {
        Held {
            socket_entries: self.sockets.len(),
            user_sockets: self.subscribers.values().map(|s| s.sockets.len()).sum(),
            departed_users: self.departed.len(),
        }
    }

    /// The subscriber with this id.
    pub fn subscriber(&self, id: UserId) -> Option<&Subscriber> {
        self.subscribers.get(&id)
    }

    /// The user a socket logged in as.
    pub fn user_of_socket(&self, sid: Sid) -> Option<&Subscriber> {
        self.sockets
            .get(&sid)
            .and_then(|id| self.subscribers.get(id))
    }

    /// PHP `Connect`: make sure the user exists (without name or sockets).
    pub fn connect(&mut self, id: UserId) {
        self.subscribers
            .entry(id)
            .or_insert_with(|| Subscriber::new(id));
    }

    /// PHP `EnterPrivateRoom`: register the user in the room (idempotent).
    pub fn register(&mut self, key: RoomKey, user: UserId) -> Result<(), RegisterError> {
        if !self.subscribers.contains_key(&user) {
            return Err(RegisterError::UnknownUser);
        }
        let room = self.rooms.get_mut(&key).ok_or(RegisterError::UnknownRoom)?;
        room.registered.insert(user);
        Ok(())
    }

    /// Browser `login`: binds the socket to the subscriber PHP announced. Returns `None`
    /// when PHP never called `Connect` for this user.
    pub fn login(
        &mut self,
        sid: Sid,
        user: UserId,
        name: String,
        profile_picture_visible: Option<bool>,
    ) -> Option<&Subscriber> {
        let subscriber = self.subscribers.get_mut(&user)?;
        subscriber.name = Some(name);
        // Every login replaces the flag, also with "none", as the original's does.
        subscriber.profile_picture_visible = profile_picture_visible;
        if !subscriber.sockets.contains(&sid) {
            subscriber.sockets.push(sid);
        }
        self.sockets.insert(sid, user);
        Some(subscriber)
    }

    /// Browser `enterRoom`: the logged-in user of `sid` joins the room.
    pub fn enter(&mut self, sid: Sid, key: RoomKey) -> Result<Entered, EnterError> {
        let user = *self.sockets.get(&sid).ok_or(EnterError::NotLoggedIn)?;
        let subscriber = self
            .subscribers
            .get(&user)
            .ok_or(EnterError::NotLoggedIn)?
            .clone();
        let room = self.rooms.get_mut(&key).ok_or(EnterError::UnknownRoom)?;
        if !room.registered.contains(&user) {
            return Err(EnterError::NotRegistered);
        }
        let already_joined = room.joined.contains(&user);
        if !already_joined {
            room.joined.push(user);
        }
        let rejoined = self.rejoining.remove(&(key, user));
        Ok(Entered {
            subscriber,
            room_title: room.title.clone(),
            already_joined,
            rejoined,
        })
    }

    /// Forgets a closed socket. Returns the user it spoke for and whether that user has
    /// no socket left (which starts the grace period in the original).
    pub fn socket_closed(&mut self, sid: Sid) -> Option<(UserId, bool)> {
        let user = self.sockets.remove(&sid)?;
        let subscriber = self.subscribers.get_mut(&user)?;
        subscriber.sockets.retain(|s| *s != sid);
        Some((user, subscriber.sockets.is_empty()))
    }

    /// The keys of every room (for `GetRooms`).
    pub fn room_keys(&self) -> Vec<RoomKey> {
        self.rooms.keys().copied().collect()
    }

    /// Sockets of a user (empty when unknown).
    pub fn sockets_of(&self, user: UserId) -> Vec<Sid> {
        self.subscribers
            .get(&user)
            .map(|s| s.sockets.clone())
            .unwrap_or_default()
    }

    /// Checks that the socket's user may speak in the room: logged in, still known
    /// (not banned) and registered there (not kicked).
    pub fn speaker(&self, sid: Sid, key: RoomKey) -> Result<&Subscriber, SpeakError> {
        let subscriber = self.user_of_socket(sid).ok_or(SpeakError::NotLoggedIn)?;
        let room = self.rooms.get(&key).ok_or(SpeakError::UnknownRoom)?;
        if !room.registered.contains(&subscriber.id) {
            return Err(SpeakError::NotRegistered);
        }
        Ok(subscriber)
    }

    /// Who receives a chat message from this socket: everyone in the room, or — for a
    /// private whisper — the sender's and the addressee's sockets only. Refused like
    /// [`RoomState::speaker`], and for a whisper to a user the server does not know.
    pub fn send(
        &self,
        sid: Sid,
        key: RoomKey,
        whisper_to: Option<UserId>,
    ) -> Result<Delivery, SpeakError> {
        let sender = self.speaker(sid, key)?;
        let recipients = match whisper_to {
            None => Recipients::Room,
            Some(user) => {
                let receiver = self
                    .subscribers
                    .get(&user)
                    .ok_or(SpeakError::UnknownAddressee(user))?;
                Recipients::Sockets([sender.sockets.clone(), receiver.sockets.clone()].concat())
            }
        };
        Ok(Delivery {
            sender: sender.clone(),
            recipients,
        })
    }

    /// Sockets of every other registered user of a room (typing indicators).
    pub fn other_registered_sockets(&self, key: RoomKey, user: UserId) -> Vec<Sid> {
        let Some(room) = self.rooms.get(&key) else {
            return Vec::new();
        };
        room.registered
            .iter()
            .filter(|id| **id != user)
            .filter_map(|id| self.subscribers.get(id))
            .flat_map(|s| s.sockets.iter().copied())
            .collect()
    }

    /// PHP `LeavePrivateRoom`: the user's browser is no longer in the room, but PHP's
    /// registration stays.
    pub fn leave(&mut self, key: RoomKey, user: UserId) -> Result<Removed, RegisterError> {
        let subscriber = self
            .subscribers
            .get(&user)
            .ok_or(RegisterError::UnknownUser)?;
        let room = self.rooms.get_mut(&key).ok_or(RegisterError::UnknownRoom)?;
        room.joined.retain(|id| *id != user);
        Ok(Removed {
            username: subscriber.username().to_string(),
            sockets: subscriber.sockets.clone(),
            room_title: room.title.clone(),
        })
    }

    /// PHP `Kick`: removes the user's registration and presence. `Ok(None)` when the
    /// user was not registered there.
    pub fn kick(&mut self, key: RoomKey, user: UserId) -> Result<Option<Removed>, RegisterError> {
        let room = self.rooms.get_mut(&key).ok_or(RegisterError::UnknownRoom)?;
        // A kicked user may not come back into the room by reconnecting.
        self.rejoining.remove(&(key, user));
        if let Some(departed) = self.departed.get_mut(&user) {
            departed.rooms.retain(|k| *k != key);
        }
        if !room.registered.remove(&user) {
            return Ok(None);
        }
        room.joined.retain(|id| *id != user);
        let title = room.title.clone();
        let subscriber = self.subscribers.get(&user);
        Ok(Some(Removed {
            username: subscriber
                .map(|s| s.username().to_string())
                .unwrap_or_default(),
            sockets: subscriber.map(|s| s.sockets.clone()).unwrap_or_default(),
            room_title: title,
        }))
    }

    /// PHP `Ban`: removes the user from the chat room and all its private rooms, then
    /// forgets the user, so none of their sockets can speak until PHP connects them
    /// again. `None` when the user is unknown.
    pub fn ban(&mut self, room_id: i64, user: UserId) -> Option<Banned> {
        // A banned user may not come back into the chat room by reconnecting.
        if let Some(departed) = self.departed.get_mut(&user) {
            departed.rooms.retain(|k| k.room_id != room_id);
        }
        self.rejoining
            .retain(|(key, id)| !(*id == user && key.room_id == room_id));
        let subscriber = self.subscribers.remove(&user)?;
        let mut rooms = Vec::new();
        for room in self.rooms.values_mut().filter(|r| r.key.room_id == room_id) {
            if room.registered.remove(&user) {
                room.joined.retain(|id| *id != user);
                rooms.push(room.key);
            }
        }
        Some(Banned {
            username: subscriber.username().to_string(),
            sockets: subscriber.sockets,
            rooms,
        })
    }

    /// PHP `InvitePrivateRoom`: the invitee (created if unknown) is registered.
    pub fn invite(
        &mut self,
        key: RoomKey,
        host: UserId,
        invitee: UserId,
    ) -> Result<Invited, RegisterError> {
        let room = self.rooms.get_mut(&key).ok_or(RegisterError::UnknownRoom)?;
        room.registered.insert(invitee);
        let (room_title, room_owner) = (room.title.clone(), room.owner.clone());
        let invitee_sockets = self
            .subscribers
            .entry(invitee)
            .or_insert_with(|| Subscriber::new(invitee))
            .sockets
            .clone();
        let host = self
            .subscribers
            .get(&host)
            .map(|h| (h.username().to_string(), h.sockets.clone()));
        Ok(Invited {
            host,
            invitee_sockets,
            room_title,
            room_owner,
        })
    }

    /// PHP `DeletePrivateRoom` (ILIAS 8): removes the room.
    pub fn delete_room(&mut self, key: RoomKey) -> Option<Deleted> {
        let room = self.rooms.remove(&key)?;
        let sockets = room
            .registered
            .iter()
            .filter_map(|id| self.subscribers.get(id))
            .flat_map(|s| s.sockets.iter().copied())
            .collect();
        Some(Deleted {
            title: room.title,
            sockets,
        })
    }

    /// Whether the user currently has an open socket.
    pub fn is_online(&self, user: UserId) -> bool {
        self.subscribers
            .get(&user)
            .is_some_and(|s| !s.sockets.is_empty())
    }

    /// End of the grace period after the user's last socket closed: the user leaves
    /// every room and is forgotten. `None` when the user is unknown or came back.
    pub fn expire(&mut self, user: UserId) -> Option<Expired> {
        let subscriber = self.subscribers.get(&user)?;
        if !subscriber.sockets.is_empty() {
            return None;
        }
        let username = subscriber.username().to_string();
        let mut rooms = Vec::new();
        let mut emptied = Vec::new();
        for room in self.rooms.values_mut() {
            if room.registered.remove(&user) {
                room.joined.retain(|id| *id != user);
                rooms.push(room.key);
                if room.key.sub_room > 0 && room.registered.is_empty() {
                    emptied.push(room.key);
                }
            }
        }
        self.subscribers.remove(&user);
        self.rejoining.retain(|(_, id)| *id != user);
        Some(Expired {
            username,
            rooms,
            emptied,
        })
    }

    /// [`RoomState::expire`], remembering where the user was registered so that they
    /// may come back within `window_ms` ([`RoomState::readmit`]); departures older than
    /// the window are dropped by [`RoomState::forget_departures`].
    pub fn expire_at(&mut self, user: UserId, now_ms: i64, window_ms: i64) -> Option<Expired> {
        let (name, profile_picture_visible) = {
            let subscriber = self.subscribers.get(&user)?;
            (subscriber.name.clone(), subscriber.profile_picture_visible)
        };
        let expired = self.expire(user)?;
        // Rooms deleted meanwhile cannot be re-entered; nothing to remember without rooms.
        if window_ms > 0 && !expired.rooms.is_empty() {
            self.departed.insert(
                user,
                Departed {
                    name,
                    profile_picture_visible,
                    rooms: expired.rooms.clone(),
                    left_at_ms: now_ms,
                },
            );
        }
        Some(expired)
    }

    /// Drops the departures whose window has ended (they could not be readmitted any
    /// more); returns how many.
    pub fn forget_departures(&mut self, now_ms: i64, window_ms: i64) -> usize {
        let before = self.departed.len();
        self.departed
            .retain(|_, d| now_ms.saturating_sub(d.left_at_ms) <= window_ms);
        before - self.departed.len()
    }

    /// A departed user's browser logs in again within the window: the user is known
    /// again and registered again in the rooms they left (those that still exist and
    /// that they were not kicked or banned from). Returns those rooms; empty when the
    /// user did not depart, or longer ago than `window_ms`.
    pub fn readmit(&mut self, user: UserId, now_ms: i64, window_ms: i64) -> Vec<RoomKey> {
        let Some(departed) = self.departed.remove(&user) else {
            return Vec::new();
        };
        if now_ms.saturating_sub(departed.left_at_ms) > window_ms {
            return Vec::new();
        }
        let subscriber = self
            .subscribers
            .entry(user)
            .or_insert_with(|| Subscriber::new(user));
        if subscriber.name.is_none() {
            subscriber.name = departed.name;
            subscriber.profile_picture_visible = departed.profile_picture_visible;
        }
        let mut readmitted = Vec::new();
        for key in departed.rooms {
            if let Some(room) = self.rooms.get_mut(&key)
                && room.registered.insert(user)
            {
                self.rejoining.insert((key, user));
                readmitted.push(key);
            }
        }
        readmitted
    }

    /// Whether the user departed and may still come back (for logs and tests).
    pub fn departed(&self, user: UserId) -> Option<&Departed> {
        self.departed.get(&user)
    }

    /// The user list of a room: users that are registered and have joined, in order
    /// of joining.
    pub fn members(&self, key: RoomKey) -> Vec<Member> {
        let Some(room) = self.rooms.get(&key) else {
            return Vec::new();
        };
        room.joined
            .iter()
            .filter(|id| room.registered.contains(id))
            .filter_map(|id| self.subscribers.get(id))
            .map(|s| Member {
                id: s.id,
                username: s.username().to_string(),
                profile_picture_visible: s.profile_picture_visible,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
