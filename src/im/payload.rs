//! The JSON objects the on-screen chat namespace sends, as the original builds them.
//! Fields serialise in the original's order; ILIAS browsers read them by name, but keeping the order makes
//! the payloads byte-comparable with the original's.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{ConversationView, ParticipantRef, StoredMessage, UserId};
use crate::config::Generation;

/// An `osc_messages` row as the original sent it: the columns of `SELECT *` plus the
/// camel-case aliases `userId` and `conversationId` it added for the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub user_id: UserId,
    pub message: String,
    pub timestamp: i64,
    #[serde(rename = "userId")]
    pub user_id_alias: UserId,
    #[serde(rename = "conversationId")]
    pub conversation_id_alias: String,
}

impl MessageRow {
    /// The row form of a stored message.
    pub fn of(message: &StoredMessage) -> MessageRow {
        MessageRow {
            id: message.id.clone(),
            conversation_id: message.conversation_id.clone(),
            user_id: message.user_id,
            message: message.message.clone(),
            timestamp: message.timestamp,
            user_id_alias: message.user_id,
            conversation_id_alias: message.conversation_id.clone(),
        }
    }
}

/// A conversation: `{id, participants, latestMessage, numNewMessages, isGroup}`.
///
/// `isGroup` is always a boolean (the original sent 0/1 for conversations read from the
/// database; browsers only test its truthiness). `numNewMessages` is the recipient's
/// own unread count in the answer to `conversations` and 0 elsewhere (the original sent
/// whatever count it had computed last, possibly for another user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationJson {
    pub id: String,
    pub participants: Vec<ParticipantRef>,
    pub latest_message: Option<MessageRow>,
    pub num_new_messages: i64,
    pub is_group: bool,
}

impl ConversationJson {
    /// The JSON form of a conversation, with the recipient's unread count.
    pub fn of(view: &ConversationView, num_new_messages: i64) -> ConversationJson {
        ConversationJson {
            id: view.id.clone(),
            participants: view.participants.clone(),
            latest_message: view.latest_message.as_ref().map(MessageRow::of),
            num_new_messages,
            is_group: view.is_group,
        }
    }
}

/// A live message (`message`, `senderSuppressesMessages`,
/// `participantsSuppressedMessages`): `{conversationId, userId, message, timestamp}`,
/// plus `id` on ILIAS 10 and `ignoredParticipants` when some participants do not accept
/// messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImMessage {
    pub conversation_id: String,
    pub user_id: UserId,
    pub message: String,
    pub timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `{"<id>": <id>, …}`, in ascending id order like a JavaScript object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_participants: Option<BTreeMap<UserId, UserId>>,
}

impl ImMessage {
    /// The live form of a stored message for the given generation (only ILIAS 10
    /// browsers get the message id).
    pub fn of(message: &StoredMessage, generation: Generation) -> ImMessage {
        ImMessage {
            conversation_id: message.conversation_id.clone(),
            user_id: message.user_id,
            message: message.message.clone(),
            timestamp: message.timestamp,
            id: (generation >= Generation::Ilias10).then(|| message.id.clone()),
            ignored_participants: None,
        }
    }
}

/// `history`: the conversation plus up to six messages, `reverseSorting` (only when the
/// browser sent it, as ILIAS 10 does) and the oldest timestamp seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    #[serde(flatten)]
    pub conversation: ConversationJson,
    pub messages: Vec<MessageRow>,
    /// As the browser sent it (the original echoes the raw value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse_sorting: Option<serde_json::Value>,
    pub oldest_message_timestamp: Option<i64>,
}

/// `userStartedTyping` / `userStoppedTyping`: `{conversation, participant}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Typing {
    pub conversation: ConversationJson,
    pub participant: ParticipantRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredMessage {
        StoredMessage {
            id: "9b2c".into(),
            conversation_id: "c-1".into(),
            user_id: 6,
            message: "hi &lt;b&gt;".into(),
            timestamp: 1_700_000_000_123,
        }
    }

    fn view() -> ConversationView {
        ConversationView {
            id: "c-1".into(),
            is_group: false,
            participants: vec![
                ParticipantRef {
                    id: 6,
                    name: "ann".into(),
                },
                ParticipantRef {
                    id: 7,
                    name: "bob".into(),
                },
            ],
            latest_message: None,
        }
    }

    fn text<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).expect("serialises")
    }

    #[test]
    fn conversation_json_has_the_original_shape() {
        assert_eq!(
            text(&ConversationJson::of(&view(), 0)),
            r#"{"id":"c-1","participants":[{"id":6,"name":"ann"},{"id":7,"name":"bob"}],"latestMessage":null,"numNewMessages":0,"isGroup":false}"#
        );
        let mut with_latest = view();
        with_latest.latest_message = Some(stored());
        with_latest.is_group = true;
        assert_eq!(
            text(&ConversationJson::of(&with_latest, 2)),
            r#"{"id":"c-1","participants":[{"id":6,"name":"ann"},{"id":7,"name":"bob"}],"latestMessage":{"id":"9b2c","conversation_id":"c-1","user_id":6,"message":"hi &lt;b&gt;","timestamp":1700000000123,"userId":6,"conversationId":"c-1"},"numNewMessages":2,"isGroup":true}"#
        );
    }

    #[test]
    fn live_messages_carry_the_id_on_ilias_10_only() {
        assert_eq!(
            text(&ImMessage::of(&stored(), Generation::Ilias9)),
            r#"{"conversationId":"c-1","userId":6,"message":"hi &lt;b&gt;","timestamp":1700000000123}"#
        );
        let mut message = ImMessage::of(&stored(), Generation::Ilias10);
        message.ignored_participants = Some(BTreeMap::from([(10, 10), (9, 9)]));
        assert_eq!(
            text(&message),
            r#"{"conversationId":"c-1","userId":6,"message":"hi &lt;b&gt;","timestamp":1700000000123,"id":"9b2c","ignoredParticipants":{"9":9,"10":10}}"#
        );
    }

    #[test]
    fn history_appends_messages_and_timestamps() {
        let history = History {
            conversation: ConversationJson::of(&view(), 0),
            messages: vec![MessageRow::of(&stored())],
            reverse_sorting: Some(serde_json::json!(true)),
            oldest_message_timestamp: Some(1_700_000_000_123),
        };
        assert_eq!(
            text(&history),
            r#"{"id":"c-1","participants":[{"id":6,"name":"ann"},{"id":7,"name":"bob"}],"latestMessage":null,"numNewMessages":0,"isGroup":false,"messages":[{"id":"9b2c","conversation_id":"c-1","user_id":6,"message":"hi &lt;b&gt;","timestamp":1700000000123,"userId":6,"conversationId":"c-1"}],"reverseSorting":true,"oldestMessageTimestamp":1700000000123}"#
        );
        let empty = History {
            conversation: ConversationJson::of(&view(), 0),
            messages: vec![],
            reverse_sorting: None,
            oldest_message_timestamp: None,
        };
        assert!(
            text(&empty)
                .ends_with(r#""isGroup":false,"messages":[],"oldestMessageTimestamp":null}"#)
        );
    }

    #[test]
    fn typing_wraps_conversation_and_participant() {
        let typing = Typing {
            conversation: ConversationJson::of(&view(), 0),
            participant: ParticipantRef {
                id: 6,
                name: "ann".into(),
            },
        };
        assert_eq!(
            text(&typing),
            r#"{"conversation":{"id":"c-1","participants":[{"id":6,"name":"ann"},{"id":7,"name":"bob"}],"latestMessage":null,"numNewMessages":0,"isGroup":false},"participant":{"id":6,"name":"ann"}}"#
        );
    }
}
