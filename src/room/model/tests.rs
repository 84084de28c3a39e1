//! The rules of the chat-room model.

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
            profile_picture_visible: None
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

#[test]
fn kicked_and_banned_users_cannot_speak() {
    let mut state = state_with_room();
    state.add_room(
        RoomKey {
            room_id: 7,
            sub_room: 2,
        },
        "Side",
        Some("5".into()),
    );
    let s = sid();
    state.connect(5);
    state.login(s, 5, "ann".into(), None);
    state.register(RoomKey::main(7), 5).ok();
    state
        .register(
            RoomKey {
                room_id: 7,
                sub_room: 2,
            },
            5,
        )
        .ok();
    assert!(state.speaker(s, RoomKey::main(7)).is_ok());
    let kicked = state.kick(RoomKey::main(7), 5).ok().flatten();
    assert_eq!(kicked.map(|k| k.sockets), Some(vec![s]));
    assert_eq!(
        state.speaker(s, RoomKey::main(7)).err(),
        Some(SpeakError::NotRegistered)
    );
    // PHP lets the user back in: speaking works again.
    state.register(RoomKey::main(7), 5).ok();
    assert!(state.speaker(s, RoomKey::main(7)).is_ok());
    let banned = state.ban(7, 5).map(|b| b.rooms);
    assert_eq!(
        banned,
        Some(vec![
            RoomKey::main(7),
            RoomKey {
                room_id: 7,
                sub_room: 2
            }
        ])
    );
    assert_eq!(
        state.speaker(s, RoomKey::main(7)).err(),
        Some(SpeakError::NotLoggedIn)
    );
}

#[test]
fn expiry_leaves_every_room_only_without_sockets() {
    let mut state = state_with_room();
    let side = RoomKey {
        room_id: 7,
        sub_room: 2,
    };
    state.add_room(side, "Side", None);
    let s = sid();
    state.connect(5);
    state.login(s, 5, "ann".into(), None);
    state.register(RoomKey::main(7), 5).ok();
    state.register(side, 5).ok();
    state.enter(s, RoomKey::main(7)).ok();
    assert_eq!(
        state.expire(5),
        None,
        "a user with a socket does not expire"
    );
    state.socket_closed(s);
    let expired = state.expire(5);
    assert_eq!(
        expired,
        Some(Expired {
            username: "ann".into(),
            rooms: vec![RoomKey::main(7), side],
            emptied: vec![side]
        })
    );
    assert!(state.members(RoomKey::main(7)).is_empty());
    assert!(state.subscriber(5).is_none());
}

#[test]
fn invite_creates_and_registers_the_invitee() {
    let mut state = state_with_room();
    state.connect(1);
    let invited = state.invite(RoomKey::main(7), 1, 9).expect("room exists");
    assert_eq!(invited.host.map(|h| h.0), Some(String::new()));
    assert!(
        state
            .room(RoomKey::main(7))
            .is_some_and(|r| r.is_registered(9))
    );
    assert_eq!(
        state.invite(RoomKey::main(8), 1, 9).err(),
        Some(RegisterError::UnknownRoom)
    );
}

#[test]
fn the_model_decides_who_receives_a_message() {
    let mut state = state_with_room();
    let key = RoomKey::main(7);
    let (ann, bob, ann_tab2) = (sid(), sid(), sid());
    for (user, name, socket) in [(5, "ann", ann), (6, "bob", bob), (5, "ann", ann_tab2)] {
        state.connect(user);
        state.login(socket, user, name.into(), None);
        assert_eq!(state.register(key, user), Ok(()));
    }
    let to_room = state.send(ann, key, None).expect("may speak");
    assert_eq!(to_room.sender.id, 5);
    assert_eq!(to_room.recipients, Recipients::Room);
    // A whisper reaches every tab of the sender and of the addressee, nobody else.
    let whisper = state.send(ann, key, Some(6)).expect("may whisper");
    assert_eq!(
        whisper.recipients,
        Recipients::Sockets(vec![ann, ann_tab2, bob])
    );
    assert_eq!(
        state.send(ann, key, Some(99)),
        Err(SpeakError::UnknownAddressee(99))
    );
    assert_eq!(state.send(sid(), key, None), Err(SpeakError::NotLoggedIn));
    assert_eq!(
        state.send(ann, RoomKey::main(8), None),
        Err(SpeakError::UnknownRoom)
    );
}
