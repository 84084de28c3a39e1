//! The JSON objects the chat-room namespace sends, as the original builds them. Field
//! order is part of the contract: ILIAS PHP matches stored history rows with `LIKE` patterns such as
//! `"from":{"id":<n>`, so structs here serialise their fields in the original's order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::model::{Member, RoomKey, Subscriber};
use crate::clock::now_ms;
use crate::config::Generation;
use crate::ids::UserId;

/// Where a payload belongs: `roomId`, plus `subRoomId` for ILIAS 8 clients only.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub room_id: i64,
    pub sub_room_id: Option<i64>,
}

impl Scope {
    /// The scope fields as the given generation expects them.
    pub fn of(key: RoomKey, generation: Generation) -> Scope {
        Scope {
            room_id: key.room_id,
            sub_room_id: (generation == Generation::Ilias8).then_some(key.sub_room),
        }
    }
}

/// The sender of a message (`from`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sender {
    pub id: UserId,
    pub username: String,
    /// ILIAS 10+ only, and only when the login sent the flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_picture_visible: Option<bool>,
}

impl Sender {
    /// The sender as the given generation shows it.
    pub fn of(subscriber: &Subscriber, generation: Generation) -> Sender {
        Sender {
            id: subscriber.id,
            username: subscriber.username().to_string(),
            profile_picture_visible: (generation >= Generation::Ilias10)
                .then_some(subscriber.profile_picture_visible)
                .flatten(),
        }
    }
}

/// A chat message (`TextMessage`, or `TargetMessage` when `target` is set).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: i64,
    pub content: String,
    pub room_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_room_id: Option<i64>,
    pub from: Sender,
    /// Opaque formatting object from the browser, passed through.
    pub format: Value,
    /// The browser's target object, passed through verbatim (PHP matches on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
}

impl ChatMessage {
    pub fn new(
        scope: Scope,
        from: Sender,
        content: String,
        format: Value,
        target: Option<Value>,
    ) -> ChatMessage {
        ChatMessage {
            kind: "message",
            timestamp: now_ms(),
            content,
            room_id: scope.room_id,
            sub_room_id: scope.sub_room_id,
            from,
            format,
            target,
        }
    }
}

/// A notice: a language key the browser translates, with placeholders.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    #[serde(flatten)]
    pub head: ActionHead,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Notice {
    pub fn new(scope: Scope, content: &'static str, data: Option<Value>) -> Notice {
        Notice {
            head: ActionHead::with_content(scope, "notice", content),
            data,
        }
    }
}

/// Payloads that are also stored in `chatroom_history`: the stored JSON carries the
/// timestamp in seconds (ILIAS multiplies by 1000 when it shows history), the live
/// payload milliseconds.
pub trait Stored: Serialize + Clone {
    fn timestamp_mut(&mut self) -> &mut i64;

    /// The JSON text for `chatroom_history.message`, and the seconds for its
    /// `timestamp` column.
    fn stored(&self) -> (String, i64) {
        let mut copy = self.clone();
        let seconds = *copy.timestamp_mut() / 1000;
        *copy.timestamp_mut() = seconds;
        // Serialising plain structs of strings and numbers cannot fail.
        (serde_json::to_string(&copy).unwrap_or_default(), seconds)
    }
}

impl Stored for Notice {
    fn timestamp_mut(&mut self) -> &mut i64 {
        &mut self.head.timestamp
    }
}

impl Stored for ChatMessage {
    fn timestamp_mut(&mut self) -> &mut i64 {
        &mut self.timestamp
    }
}

/// Common head of the "action" payloads: type and content carry the same word.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionHead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: i64,
    pub content: &'static str,
    pub room_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_room_id: Option<i64>,
}

impl ActionHead {
    /// A head whose content repeats the type, as most actions have.
    pub fn new(scope: Scope, kind: &'static str) -> ActionHead {
        ActionHead::with_content(scope, kind, kind)
    }

    /// A head with its own content word (`clear` says `history_has_been_cleared`).
    pub fn with_content(scope: Scope, kind: &'static str, content: &'static str) -> ActionHead {
        ActionHead {
            kind,
            timestamp: now_ms(),
            content,
            room_id: scope.room_id,
            sub_room_id: scope.sub_room_id,
        }
    }
}

/// `user_invited`: tells the invitee's browser about the room.
#[derive(Debug, Clone, Serialize)]
pub struct InviteAction {
    #[serde(flatten)]
    pub head: ActionHead,
    pub title: String,
    pub owner: Option<String>,
}

/// `userStartedTyping`/`userStoppedTyping`. `subscriber` is a JSON *string*: the
/// browsers `JSON.parse` it.
#[derive(Debug, Clone, Serialize)]
pub struct Typing {
    #[serde(flatten)]
    pub head: ActionHead,
    pub subscriber: String,
}

/// `private_room_created` (ILIAS 8): sent to the owner of a new private room.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAction {
    #[serde(flatten)]
    pub head: ActionHead,
    pub title: String,
    pub owner_id: String,
}

/// A user in a user list or an enter action.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserEntry {
    pub id: UserId,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_picture_visible: Option<bool>,
}

impl UserEntry {
    pub fn of(member: Member, generation: Generation) -> UserEntry {
        UserEntry {
            id: member.id,
            username: member.username,
            profile_picture_visible: (generation >= Generation::Ilias10)
                .then_some(member.profile_picture_visible)
                .flatten(),
        }
    }
}

/// `userlist`: who is in the room now.
#[derive(Debug, Clone, Serialize)]
pub struct Userlist {
    #[serde(flatten)]
    pub head: ActionHead,
    /// Keyed by user id as a string, like the original's object.
    pub users: BTreeMap<String, UserEntry>,
}

impl Userlist {
    /// Takes the members over: the list is built on every entry into a room, for
    /// everyone in it, so the names are moved, not copied again.
    pub fn new(scope: Scope, members: Vec<Member>, generation: Generation) -> Userlist {
        Userlist {
            head: ActionHead::new(scope, "userlist"),
            users: members
                .into_iter()
                .map(|m| (m.id.to_string(), UserEntry::of(m, generation)))
                .collect(),
        }
    }
}

/// `private_room_entered`: sent to the socket that entered.
#[derive(Debug, Clone, Serialize)]
pub struct EnterAction {
    #[serde(flatten)]
    pub head: ActionHead,
    pub subscriber: SubscriberRef,
}

/// `{id, username}` of a subscriber.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SubscriberRef {
    pub id: UserId,
    pub username: String,
}

impl SubscriberRef {
    pub fn of(subscriber: &Subscriber) -> SubscriberRef {
        SubscriberRef {
            id: subscriber.id,
            username: subscriber.username().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subscriber() -> Subscriber {
        let mut state = super::super::model::RoomState::default();
        state.connect(42);
        let sid = socketioxide::socket::Sid::new();
        state
            .login(sid, 42, "ann".into(), Some(true))
            .cloned()
            .expect("connected user logs in")
    }

    #[test]
    fn message_json_keeps_the_order_php_matches_on() {
        let mut message = ChatMessage::new(
            Scope::of(RoomKey::main(7), Generation::Ilias9),
            Sender::of(&subscriber(), Generation::Ilias9),
            "hi".into(),
            json!({}),
            None,
        );
        message.timestamp = 1_700_000_000_123;
        let text = serde_json::to_string(&message).expect("serialises");
        assert_eq!(
            text,
            r#"{"type":"message","timestamp":1700000000123,"content":"hi","roomId":7,"from":{"id":42,"username":"ann"},"format":{}}"#
        );
    }

    #[test]
    fn stored_form_has_seconds_and_the_original_key_order() {
        let mut notice = Notice::new(
            Scope::of(RoomKey::main(7), Generation::Ilias9),
            "connect",
            Some(json!({"id": 42, "username": "ann", "title": "Main"})),
        );
        notice.head.timestamp = 1_700_000_000_999;
        let (text, seconds) = notice.stored();
        assert_eq!(seconds, 1_700_000_000);
        assert_eq!(
            text,
            r#"{"type":"notice","timestamp":1700000000,"content":"connect","roomId":7,"data":{"id":42,"username":"ann","title":"Main"}}"#
        );
    }

    #[test]
    fn ilias8_adds_sub_room_and_ilias10_the_picture_flag() {
        let g8 = Scope::of(
            RoomKey {
                room_id: 7,
                sub_room: 3,
            },
            Generation::Ilias8,
        );
        let notice = serde_json::to_value(Notice::new(g8, "connect", None)).expect("json");
        assert_eq!(notice["subRoomId"], json!(3));
        assert!(notice.get("data").is_none());
        let sender =
            serde_json::to_value(Sender::of(&subscriber(), Generation::Ilias10)).expect("json");
        assert_eq!(
            sender,
            json!({"id": 42, "username": "ann", "profile_picture_visible": true})
        );
        // Key order as PHP receives `from` back; no flag at login → no key.
        assert_eq!(
            serde_json::to_string(&Sender::of(&subscriber(), Generation::Ilias11)).expect("json"),
            r#"{"id":42,"username":"ann","profile_picture_visible":true}"#
        );
        let mut silent = subscriber();
        silent.profile_picture_visible = None;
        assert_eq!(
            serde_json::to_string(&Sender::of(&silent, Generation::Ilias11)).expect("json"),
            r#"{"id":42,"username":"ann"}"#
        );
    }
}
