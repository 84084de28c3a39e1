//! The chat-room state a restart keeps (the restart snapshot): who PHP announced, who is
//! registered and present in which room, and who departed recently. Sockets are not
//! kept — every browser reconnects to the new process with a new socket.

use serde::{Deserialize, Serialize};

use super::{Departed, Room, RoomKey, RoomState, Subscriber, UserId};

/// A subscriber without sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSubscriber {
    pub id: UserId,
    pub name: Option<String>,
    pub profile_picture_visible: Option<bool>,
    /// How many chat-room tabs (sockets) the user had open: each comes back by itself.
    #[serde(default = "one_tab")]
    pub tabs: usize,
}

fn one_tab() -> usize {
    1
}

/// A room with its registrations and presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRoom {
    pub room_id: i64,
    pub sub_room: i64,
    pub title: String,
    pub owner: Option<String>,
    pub registered: Vec<UserId>,
    pub joined: Vec<UserId>,
}

/// A departed user (see [`Departed`]); rooms as `[room_id, sub_room]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDeparture {
    pub id: UserId,
    pub name: Option<String>,
    pub profile_picture_visible: Option<bool>,
    pub rooms: Vec<(i64, i64)>,
    pub left_at_ms: i64,
}

/// Everything of [`RoomState`] a restart keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRooms {
    pub subscribers: Vec<SavedSubscriber>,
    pub rooms: Vec<SavedRoom>,
    pub departed: Vec<SavedDeparture>,
    /// `[room_id, sub_room, user]` of registrations given back but not entered yet.
    #[serde(default)]
    pub rejoining: Vec<(i64, i64, UserId)>,
}

impl RoomState {
    /// The state to keep across a restart.
    pub fn save(&self) -> SavedRooms {
        let mut subscribers: Vec<SavedSubscriber> = self
            .subscribers
            .values()
            .map(|s| SavedSubscriber {
                id: s.id,
                name: s.name.clone(),
                profile_picture_visible: s.profile_picture_visible,
                tabs: s.sockets.len(),
            })
            .collect();
        subscribers.sort_by_key(|s| s.id);
        let rooms = self
            .rooms
            .values()
            .map(|room| SavedRoom {
                room_id: room.key.room_id,
                sub_room: room.key.sub_room,
                title: room.title.clone(),
                owner: room.owner.clone(),
                registered: room.registered.iter().copied().collect(),
                joined: room.joined.clone(),
            })
            .collect();
        let mut departed: Vec<SavedDeparture> = self
            .departed
            .iter()
            .map(|(id, d)| SavedDeparture {
                id: *id,
                name: d.name.clone(),
                profile_picture_visible: d.profile_picture_visible,
                rooms: d.rooms.iter().map(|k| (k.room_id, k.sub_room)).collect(),
                left_at_ms: d.left_at_ms,
            })
            .collect();
        departed.sort_by_key(|d| d.id);
        let rejoining = self
            .rejoining
            .iter()
            .map(|(key, user)| (key.room_id, key.sub_room, *user))
            .collect();
        SavedRooms {
            subscribers,
            rooms,
            departed,
            rejoining,
        }
    }

    /// Takes over a saved state (at start-up, before any browser is served). Every
    /// subscriber comes back without sockets, as if all their tabs had just closed;
    /// returns them, for their grace periods to start. Registrations of unknown users
    /// are dropped, so the state keeps its invariants whatever the file said.
    pub fn restore(&mut self, saved: SavedRooms) -> Vec<UserId> {
        let mut users = Vec::new();
        for s in saved.subscribers {
            users.push(s.id);
            self.subscribers.insert(
                s.id,
                Subscriber {
                    id: s.id,
                    name: s.name,
                    profile_picture_visible: s.profile_picture_visible,
                    sockets: Vec::new(),
                },
            );
        }
        for r in saved.rooms {
            let key = RoomKey {
                room_id: r.room_id,
                sub_room: r.sub_room,
            };
            let mut room = Room::new(key, r.title, r.owner);
            room.registered = r
                .registered
                .into_iter()
                .filter(|id| self.subscribers.contains_key(id))
                .collect();
            for id in r.joined {
                if room.registered.contains(&id) && !room.joined.contains(&id) {
                    room.joined.push(id);
                }
            }
            self.rooms.insert(key, room);
        }
        for d in saved.departed {
            self.departed.insert(
                d.id,
                Departed {
                    name: d.name,
                    profile_picture_visible: d.profile_picture_visible,
                    rooms: d
                        .rooms
                        .into_iter()
                        .map(|(room_id, sub_room)| RoomKey { room_id, sub_room })
                        .collect(),
                    left_at_ms: d.left_at_ms,
                },
            );
        }
        for (room_id, sub_room, user) in saved.rejoining {
            self.rejoining.insert((RoomKey { room_id, sub_room }, user));
        }
        users
    }

    /// ILIAS 8: the private rooms (`proom_id`s) and their registrations
    /// `(proom_id, user)`, sorted: which private rooms and sessions a restart keeps.
    pub fn private_registrations(&self) -> (Vec<i64>, Vec<(i64, UserId)>) {
        let private = || self.rooms.values().filter(|room| room.key.sub_room > 0);
        let mut rooms: Vec<i64> = private().map(|room| room.key.sub_room).collect();
        rooms.sort_unstable();
        rooms.dedup();
        let mut sessions: Vec<(i64, UserId)> = private()
            .flat_map(|room| room.registered.iter().map(|u| (room.key.sub_room, *u)))
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        (rooms, sessions)
    }

    /// `(room, user)` of every user present (joined) in a room.
    pub fn present(&self) -> Vec<(RoomKey, UserId)> {
        self.rooms
            .values()
            .flat_map(|room| room.joined.iter().map(|u| (room.key, *u)))
            .collect()
    }

    /// `(room_id, user)` of every registration: whose `chatroom_users` rows a restart
    /// keeps.
    pub fn registrations(&self) -> Vec<(i64, UserId)> {
        let mut pairs: Vec<(i64, UserId)> = self
            .rooms
            .values()
            .flat_map(|room| room.registered.iter().map(|u| (room.key.room_id, *u)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}
