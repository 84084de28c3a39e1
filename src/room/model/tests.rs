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

/// ann (5) in room 7, entered with one socket that then closed.
fn ann_entered_and_gone() -> (RoomState, Sid) {
    let mut state = state_with_room();
    state.add_room(RoomKey::main(8), "Other", None);
    let s = sid();
    state.connect(5);
    state.register(RoomKey::main(7), 5).ok();
    state.register(RoomKey::main(8), 5).ok();
    state.login(s, 5, "ann".into(), Some(true));
    state.enter(s, RoomKey::main(7)).ok();
    state.socket_closed(s);
    (state, s)
}

const WINDOW: i64 = 60_000;

#[test]
fn a_departed_user_comes_back_into_her_rooms_within_the_window() {
    let (mut state, _) = ann_entered_and_gone();
    let expired = state.expire_at(5, 1_000, WINDOW).expect("expired");
    assert_eq!(expired.rooms, vec![RoomKey::main(7), RoomKey::main(8)]);
    assert!(state.subscriber(5).is_none());
    assert_eq!(
        state.readmit(5, 1_000 + WINDOW, WINDOW),
        vec![RoomKey::main(7), RoomKey::main(8)]
    );
    // Known again, with her name, before the browser's login names her.
    assert_eq!(state.subscriber(5).map(|s| s.username()), Some("ann"));
    let s = sid();
    assert!(state.login(s, 5, "ann".into(), None).is_some());
    let entered = state.enter(s, RoomKey::main(7)).expect("registered again");
    assert!(!entered.already_joined, "greeted as on any entry");
    assert!(entered.rejoined, "her chatroom_users row is made again");
    let again = state.enter(s, RoomKey::main(7)).expect("still registered");
    assert!(!again.rejoined, "the row is made once");
    // Readmission is used up.
    assert!(state.readmit(5, 2_000, WINDOW).is_empty());
}

#[test]
fn after_the_window_or_without_departure_nobody_is_readmitted() {
    let (mut state, _) = ann_entered_and_gone();
    state.expire_at(5, 1_000, WINDOW);
    assert!(state.readmit(5, 1_001 + WINDOW, WINDOW).is_empty());
    assert!(state.subscriber(5).is_none());
    assert!(state.readmit(6, 1_000, WINDOW).is_empty());
    // Departures are forgotten once their window has ended, not before.
    let (mut state, _) = ann_entered_and_gone();
    state.expire_at(5, 1_000, WINDOW);
    assert_eq!(state.forget_departures(1_000 + WINDOW, WINDOW), 0);
    assert!(state.departed(5).is_some());
    assert_eq!(state.forget_departures(1_001 + WINDOW, WINDOW), 1);
    assert!(state.departed(5).is_none());
    assert_eq!(state.held().departed_users, 0);
    // A window of 0 turns re-entry off.
    let (mut state, _) = ann_entered_and_gone();
    state.expire_at(5, 1_000, 0);
    assert!(state.departed(5).is_none());
}

#[test]
fn kicked_and_banned_users_do_not_come_back() {
    let (mut state, _) = ann_entered_and_gone();
    state.expire_at(5, 1_000, WINDOW);
    // Kicked from room 8 after she left: only room 7 takes her back.
    assert_eq!(state.kick(RoomKey::main(8), 5), Ok(None));
    assert_eq!(state.readmit(5, 2_000, WINDOW), vec![RoomKey::main(7)]);

    let (mut state, s) = ann_entered_and_gone();
    // Kicked from room 7 while her browser was away (within the grace period).
    let _ = s;
    assert!(state.kick(RoomKey::main(7), 5).expect("room").is_some());
    state.expire_at(5, 1_000, WINDOW);
    assert_eq!(state.readmit(5, 2_000, WINDOW), vec![RoomKey::main(8)]);

    let (mut state, _) = ann_entered_and_gone();
    state.expire_at(5, 1_000, WINDOW);
    assert!(state.ban(7, 5).is_none(), "offline users are banned too");
    assert_eq!(state.readmit(5, 2_000, WINDOW), vec![RoomKey::main(8)]);
}

#[test]
fn a_saved_state_comes_back_without_sockets() {
    let (mut state, _) = ann_entered_and_gone();
    let s = sid();
    state.connect(6);
    state.register(RoomKey::main(7), 6).ok();
    state.login(s, 6, "bob".into(), None);
    state.enter(s, RoomKey::main(7)).ok();
    let saved = state.save();
    let mut restored = RoomState::default();
    let mut users = restored.restore(saved.clone());
    users.sort_unstable();
    assert_eq!(users, vec![5, 6]);
    assert_eq!(saved.subscribers[1].tabs, 1, "bob's tab is counted");
    // Sockets are not kept: the new process counts tabs anew.
    let mut expected = saved.clone();
    for subscriber in &mut expected.subscribers {
        subscriber.tabs = 0;
    }
    assert_eq!(restored.save(), expected, "nothing lost");
    assert!(!restored.is_online(6));
    let members: Vec<UserId> = restored
        .members(RoomKey::main(7))
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(members, vec![5, 6], "still shown in the room");
    // bob's new socket resumes: logged in and back in the room without a greeting.
    let t = sid();
    assert!(restored.login(t, 6, "bob".into(), None).is_some());
    let entered = restored.enter(t, RoomKey::main(7)).expect("registered");
    assert!(entered.already_joined);
    assert_eq!(restored.registrations(), vec![(7, 5), (7, 6), (8, 5)]);
}

#[test]
fn a_saved_state_that_contradicts_itself_is_cleaned() {
    let saved = SavedRooms {
        subscribers: vec![],
        rooms: vec![SavedRoom {
            room_id: 7,
            sub_room: 0,
            title: "Main".into(),
            owner: None,
            registered: vec![5],
            joined: vec![5, 6],
        }],
        ..SavedRooms::default()
    };
    let mut state = RoomState::default();
    assert!(state.restore(saved).is_empty());
    assert!(state.members(RoomKey::main(7)).is_empty());
    assert!(state.registrations().is_empty());
}
