//! The rules of the on-screen chat model.

use super::*;

fn p(id: UserId, name: &str) -> ParticipantRef {
    ParticipantRef {
        id,
        name: name.into(),
    }
}

fn req(list: &[(UserId, &str)]) -> Vec<(UserId, Option<String>)> {
    list.iter()
        .map(|(id, name)| (*id, Some(name.to_string())))
        .collect()
}

fn ids(view: &ConversationView) -> Vec<UserId> {
    view.participants.iter().map(|p| p.id).collect()
}

fn message(conversation: &str, user: UserId, timestamp: i64) -> StoredMessage {
    StoredMessage {
        id: "m1".into(),
        conversation_id: conversation.into(),
        user_id: user,
        message: "hi".into(),
        timestamp,
    }
}

#[test]
fn participants_parse_leniently_but_refuse_garbage() {
    assert_eq!(parse_participants(None), Ok(vec![]));
    assert_eq!(
        parse_participants(Some(
            r#"[{"id":1,"name":"a"},{"id":"2","name":"b"},{"id":0},{"id":1,"name":"dup"}]"#
        )),
        Ok(vec![p(1, "a"), p(2, "b")])
    );
    assert_eq!(
        parse_participants(Some(r#"[{"id":3}]"#)),
        Ok(vec![p(3, "")])
    );
    assert!(matches!(
        parse_participants(Some("{not json")),
        Err(ParticipantsError::Json(_))
    ));
    assert_eq!(
        parse_participants(Some(r#"{"id":1}"#)),
        Err(ParticipantsError::NotArray)
    );
    assert_eq!(
        parse_participants(Some("[1]")),
        Err(ParticipantsError::NotObject(0))
    );
    assert!(matches!(
        parse_participants(Some(r#"[{"id":"x"}]"#)),
        Err(ParticipantsError::BadField { index: 0, .. })
    ));
    assert!(matches!(
        parse_participants(Some(r#"[{"name":"a"}]"#)),
        Err(ParticipantsError::BadField { index: 0, .. })
    ));
}

#[test]
fn participants_json_has_the_stored_shape() {
    assert_eq!(
        participants_json(&[p(1, "a\"b"), p(2, "c")]),
        r#"[{"id":1,"name":"a\"b"},{"id":2,"name":"c"}]"#
    );
}

#[test]
fn login_binds_sockets_and_keeps_every_tab() {
    let mut state = ImState::default();
    let (a, b) = (Sid::new(), Sid::new());
    assert_eq!(state.login(a, 5, Some("ann".into())), p(5, "ann"));
    state.login(b, 5, None);
    assert_eq!(state.sockets_of(5), vec![a, b]);
    assert_eq!(state.participant(5).map(|p| p.name.as_str()), Some("ann"));
    assert_eq!(state.socket_closed(a), Some(5));
    assert!(state.participant(5).is_some_and(Participant::is_online));
    state.socket_closed(b);
    assert!(state.participant(5).is_some_and(|p| !p.is_online()));
    assert_eq!(state.user_of_socket(b), Err(ImError::NotLoggedIn));
}

#[test]
fn a_socket_acts_only_for_its_own_user() {
    let mut state = ImState::default();
    let s = Sid::new();
    assert_eq!(state.acting_as(s, 5), Err(ImError::NotLoggedIn));
    state.login(s, 5, Some("ann".into()));
    assert_eq!(state.acting_as(s, 5), Ok(5));
    assert_eq!(
        state.acting_as(s, 6),
        Err(ImError::WrongUser {
            claimed: 6,
            actual: 5
        })
    );
    // Logging in again as someone else moves the socket.
    state.login(s, 6, Some("bob".into()));
    assert!(state.sockets_of(5).is_empty());
    assert_eq!(state.sockets_of(6), vec![s]);
}

#[test]
fn conversation_matching_is_a_subset_test_in_insertion_order() {
    let mut state = ImState::default();
    state.add_conversation("old", true, &[p(1, "a"), p(2, "b")]);
    state.add_conversation("one-to-one", false, &[p(1, "a"), p(2, "b")]);
    // The first conversation whose participants are all requested wins, whatever
    // its group flag.
    let started = state
        .start_conversation(1, &req(&[(1, "a"), (2, "b")]), "new".into())
        .expect("starts");
    assert_eq!(started.view.id, "old");
    assert!(!started.created && !started.changed);
    // A request with an extra user still matches, and adds that user.
    let started = state
        .start_conversation(1, &req(&[(1, "a"), (2, "b"), (3, "c")]), "new".into())
        .expect("starts");
    assert_eq!((started.view.id.as_str(), started.changed), ("old", true));
    assert_eq!(ids(&started.view), vec![1, 2, 3]);
    assert_eq!(
        started.participants_json,
        r#"[{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}]"#
    );
    // No conversation is a subset of {1, 4}: a new one is created.
    let started = state
        .start_conversation(4, &req(&[(1, "a"), (4, "d")]), "fresh".into())
        .expect("starts");
    assert_eq!((started.view.id.as_str(), started.created), ("fresh", true));
    assert!(!started.view.is_group);
    assert_eq!(state.conversations_of(4), vec!["fresh".to_string()]);
}

#[test]
fn empty_conversations_match_nothing() {
    let mut state = ImState::default();
    state.add_conversation("empty", true, &[]);
    let started = state
        .start_conversation(1, &req(&[(1, "a"), (2, "b")]), "new".into())
        .expect("starts");
    assert_eq!(started.view.id, "new");
}

#[test]
fn conversation_requests_are_checked() {
    let mut state = ImState::default();
    assert_eq!(
        state.start_conversation(1, &[], "x".into()).err(),
        Some(ImError::NoParticipants)
    );
    assert_eq!(
        state
            .start_conversation(1, &req(&[(2, "b"), (3, "c")]), "x".into())
            .err(),
        Some(ImError::RequesterNotListed)
    );
    let long = "n".repeat(MAX_PARTICIPANTS_JSON_CHARS);
    assert_eq!(
        state
            .start_conversation(1, &req(&[(1, "a"), (2, &long)]), "x".into())
            .err(),
        Some(ImError::ParticipantsTooLong)
    );
    assert_eq!(state.conversation_count(), 0, "nothing was created");
}

#[test]
fn existing_participants_keep_their_names() {
    let mut state = ImState::default();
    state.login(Sid::new(), 2, Some("bob".into()));
    let started = state
        .start_conversation(1, &req(&[(1, "a"), (2, "someone else")]), "c".into())
        .expect("starts");
    assert_eq!(started.view.participants, vec![p(1, "a"), p(2, "bob")]);
}

#[test]
fn adding_to_a_one_to_one_conversation_creates_a_group() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a"), p(2, "b")]);
    assert_eq!(
        state.add_user(3, "c", 4, "d", "g".into()).err(),
        Some(ImError::NotParticipant(3))
    );
    assert_eq!(
        state.add_user(1, "nope", 4, "d", "g".into()).err(),
        Some(ImError::UnknownConversation)
    );
    assert_eq!(
        state.add_user(1, "c", 2, "b", "g".into()).err(),
        Some(ImError::AlreadyParticipant(2))
    );
    assert_eq!(
        state.conversation_count(),
        1,
        "no empty group was left behind"
    );
    let group = state.add_user(1, "c", 3, "c", "g".into()).expect("adds");
    assert_eq!((group.view.id.as_str(), group.created), ("g", true));
    assert!(group.view.is_group);
    assert_eq!(ids(&group.view), vec![1, 2, 3]);
    assert_eq!(
        state.view("c").map(|v| ids(&v)),
        Some(vec![1, 2]),
        "the 1:1 conversation is unchanged"
    );
    // A group grows in place.
    let grown = state.add_user(2, "g", 4, "d", "h".into()).expect("adds");
    assert_eq!((grown.view.id.as_str(), grown.created), ("g", false));
    assert_eq!(ids(&grown.view), vec![1, 2, 3, 4]);
}

#[test]
fn removing_tells_the_leaver_and_the_accepting_rest() {
    let mut state = ImState::default();
    state.add_conversation("g", true, &[p(1, "a"), p(2, "b"), p(3, "c")]);
    let (s1, s2, s3) = (Sid::new(), Sid::new(), Sid::new());
    state.login(s1, 1, None);
    state.login(s2, 2, None);
    state.login(s3, 3, None);
    state.set_accepts_messages(3, false);
    let left = state.remove_user("g", 1).expect("leaves");
    assert_eq!(ids(&left.view), vec![2, 3]);
    assert_eq!(left.leaver_sockets, vec![s1]);
    assert_eq!(left.remaining_sockets, vec![s2]);
    assert_eq!(
        left.participants_json,
        r#"[{"id":2,"name":"b"},{"id":3,"name":"c"}]"#
    );
    assert!(state.conversations_of(1).is_empty());
    assert_eq!(
        state.remove_user("g", 1).err(),
        Some(ImError::NotParticipant(1))
    );
}

#[test]
fn messages_reach_accepting_online_participants() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a"), p(2, "b"), p(3, "c")]);
    let (s1, s1b, s2) = (Sid::new(), Sid::new(), Sid::new());
    state.login(s1, 1, None);
    state.login(s1b, 1, None);
    state.login(s2, 2, None);
    state.set_accepts_messages(2, false);
    assert_eq!(
        state.send(4, &message("c", 4, 10)).err(),
        Some(ImError::NotParticipant(4))
    );
    let d = state.send(1, &message("c", 1, 10)).expect("sends");
    assert!(d.sender_accepts && d.persist);
    // 3 accepts but is offline: no sockets. 2 is online but does not accept.
    assert_eq!(d.recipients, vec![s1, s1b]);
    assert_eq!(d.ignored, BTreeMap::from([(2, 2)]));
    assert_eq!(d.sender_sockets, vec![s1, s1b]);
    assert_eq!(
        d.view.latest_message.map(|m| m.timestamp),
        Some(10),
        "the message is the latest one now"
    );
    // A sender who does not accept messages sends nothing.
    let d = state.send(2, &message("c", 2, 20)).expect("checked");
    assert!(!d.sender_accepts && !d.persist);
    assert_eq!(d.view.latest_message.map(|m| m.timestamp), Some(10));
}

#[test]
fn one_to_one_messages_are_stored_only_when_someone_accepts() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a"), p(2, "b")]);
    state.add_conversation("g", true, &[p(1, "a"), p(2, "b")]);
    state.set_accepts_messages(2, false);
    assert!(state.send(1, &message("c", 1, 1)).is_ok_and(|d| d.persist));
    assert!(state.send(1, &message("g", 1, 1)).is_ok_and(|d| d.persist));
}

#[test]
fn typing_goes_to_every_other_participant() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a"), p(2, "b")]);
    let (s1, s2) = (Sid::new(), Sid::new());
    state.login(s1, 1, None);
    state.login(s2, 2, None);
    state.set_accepts_messages(2, false);
    let (view, me, recipients) = state.typing(1, "c").expect("typing");
    assert_eq!(
        (view.id.as_str(), me, recipients),
        ("c", p(1, "a"), vec![s2])
    );
    assert_eq!(state.typing(3, "c").err(), Some(ImError::NotParticipant(3)));
    assert_eq!(
        state.typing(1, "x").err(),
        Some(ImError::UnknownConversation)
    );
}

#[test]
fn membership_checks_name_the_reason() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a")]);
    let s = Sid::new();
    assert_eq!(state.member(s, "c"), Err(ImError::NotLoggedIn));
    state.login(s, 2, None);
    assert_eq!(state.member(s, "x"), Err(ImError::UnknownConversation));
    assert_eq!(state.member(s, "c"), Err(ImError::NotParticipant(2)));
    state.login(s, 1, None);
    assert_eq!(state.member(s, "c"), Ok(1));
}

#[test]
fn accept_settings_follow_the_row_then_the_default() {
    let settings = AcceptSettings {
        accepting: HashSet::from([1]),
        declining: HashSet::from([2]),
        default_accepts: true,
    };
    assert!(settings.accepts(1) && !settings.accepts(2) && settings.accepts(3));
    let strict = AcceptSettings {
        default_accepts: false,
        ..settings
    };
    assert!(strict.accepts(1) && !strict.accepts(2) && !strict.accepts(3));
}

#[test]
fn refresh_sets_every_known_participant() {
    let mut state = ImState::default();
    state.add_conversation("c", false, &[p(1, "a"), p(2, "b")]);
    assert_eq!(state.refresh_accepting(&HashSet::from([2, 9])), 1);
    assert!(state.participant(1).is_some_and(|p| !p.accepts_messages));
    assert!(state.participant(2).is_some_and(|p| p.accepts_messages));
    // Users met later accept until the next refresh, as in the original.
    state.login(Sid::new(), 3, None);
    assert!(state.participant(3).is_some_and(|p| p.accepts_messages));
    // A setting for an unknown user is kept.
    state.set_accepts_messages(7, false);
    assert!(state.participant(7).is_some_and(|p| !p.accepts_messages));
}

#[test]
fn purged_conversations_are_forgotten_unless_they_just_got_a_message() {
    let mut state = ImState::default();
    state.add_conversation("a", false, &[p(1, "a"), p(2, "b")]);
    state.add_conversation("b", false, &[p(1, "a"), p(3, "c")]);
    state.add_conversation("c", false, &[p(1, "a"), p(4, "d")]);
    state.set_latest_message("b", Some(message("b", 1, 500)));
    let purged = state.purged(&["a".into(), "b".into(), "gone".into()], 400);
    assert_eq!(purged.dropped, 1);
    assert_eq!(
        purged.restore,
        vec![(
            "b".to_string(),
            false,
            r#"[{"id":1,"name":"a"},{"id":3,"name":"c"}]"#.to_string()
        )]
    );
    assert!(state.view("a").is_none());
    assert_eq!(
        state.conversations_of(1),
        vec!["b".to_string(), "c".to_string()]
    );
    // The order still works for matching.
    let started = state
        .start_conversation(1, &req(&[(1, "a"), (4, "d")]), "n".into())
        .expect("starts");
    assert_eq!(started.view.id, "c");
}
