//! The in-memory state of the chat rooms of one ILIAS client: subscribers (users PHP
//! announced with `Connect`), rooms, who is registered (by PHP) and who has joined (by
//! the browser). Pure data and rules, no I/O, so every rule is unit-testable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use socketioxide::socket::Sid;

/// An ILIAS user id.
pub type UserId = i64;

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
    /// ILIAS 10: whether the profile picture may be shown.
    pub profile_picture_visible: bool,
    pub sockets: Vec<Sid>,
}

impl Subscriber {
    fn new(id: UserId) -> Subscriber {
        Subscriber {
            id,
            name: None,
            profile_picture_visible: false,
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
}

/// One row of a user list: joined ∩ registered users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: UserId,
    pub username: String,
    pub profile_picture_visible: bool,
}

/// All chat-room state of one ILIAS client.
#[derive(Debug, Default)]
pub struct RoomState {
    subscribers: HashMap<UserId, Subscriber>,
    rooms: BTreeMap<RoomKey, Room>,
    /// Which user each logged-in socket speaks for.
    sockets: HashMap<Sid, UserId>,
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

    /// The room with this key.
    pub fn room(&self, key: RoomKey) -> Option<&Room> {
        self.rooms.get(&key)
    }

    /// Number of known rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
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
        if let Some(visible) = profile_picture_visible {
            subscriber.profile_picture_visible = visible;
        }
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
        Ok(Entered {
            subscriber,
            room_title: room.title.clone(),
            already_joined,
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
mod tests {
    use super::*;

    fn sid() -> Sid {
        Sid::new()
    }

    fn state_with_room() -> RoomState {
        let mut state = RoomState::default();
        state.add_room(RoomKey::main(7), "Main", None);
        state
    }

    #[test]
    fn login_requires_connect() {
        let mut state = state_with_room();
        assert!(state.login(sid(), 5, "ann".into(), None).is_none());
        state.connect(5);
        let s = sid();
        let subscriber = state.login(s, 5, "ann".into(), Some(true)).cloned();
        assert_eq!(
            subscriber.map(|s| (s.username().to_string(), s.sockets)),
            Some(("ann".to_string(), vec![s]))
        );
    }

    #[test]
    fn register_needs_known_user_and_room() {
        let mut state = state_with_room();
        assert_eq!(
            state.register(RoomKey::main(7), 5),
            Err(RegisterError::UnknownUser)
        );
        state.connect(5);
        assert_eq!(
            state.register(RoomKey::main(8), 5),
            Err(RegisterError::UnknownRoom)
        );
        assert_eq!(state.register(RoomKey::main(7), 5), Ok(()));
        assert!(
            state
                .room(RoomKey::main(7))
                .is_some_and(|r| r.is_registered(5))
        );
    }

    #[test]
    fn enter_joins_registered_users_once() {
        let mut state = state_with_room();
        let s = sid();
        assert_eq!(
            state.enter(s, RoomKey::main(7)),
            Err(EnterError::NotLoggedIn)
        );
        state.connect(5);
        state.login(s, 5, "ann".into(), None);
        assert_eq!(
            state.enter(s, RoomKey::main(7)),
            Err(EnterError::NotRegistered)
        );
        state.register(RoomKey::main(7), 5).ok();
        assert_eq!(
            state.enter(s, RoomKey::main(9)),
            Err(EnterError::UnknownRoom)
        );
        let first = state.enter(s, RoomKey::main(7));
        assert_eq!(first.map(|e| e.already_joined), Ok(false));
        let second = state.enter(s, RoomKey::main(7));
        assert_eq!(second.map(|e| e.already_joined), Ok(true));
        assert_eq!(
            state.members(RoomKey::main(7)),
            vec![Member {
                id: 5,
                username: "ann".into(),
                profile_picture_visible: false
            }]
        );
    }

    #[test]
    fn closing_the_last_socket_is_reported() {
        let mut state = state_with_room();
        state.connect(5);
        let (a, b) = (sid(), sid());
        state.login(a, 5, "ann".into(), None);
        state.login(b, 5, "ann".into(), None);
        assert_eq!(state.socket_closed(a), Some((5, false)));
        assert_eq!(state.socket_closed(b), Some((5, true)));
        assert_eq!(state.socket_closed(b), None);
    }
}
