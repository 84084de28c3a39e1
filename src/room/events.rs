//! The inbound events of the chat-room namespace, parsed once from the event name and
//! its arguments into [`RoomEvent`]. Everything after this works on typed values;
//! whatever does not parse is refused here with what was wrong.

use serde_json::{Value, json};

use super::model::RoomKey;
use crate::config::Generation;
use crate::ids::UserId;
use crate::socket::Refused;
use crate::socket::args::{ArgError, EventArgs, id_value, text_value, truthy};

/// The event names this namespace listens for.
pub const NAMES: &[&str] = &[
    "login",
    "enterRoom",
    "message",
    "userStartedTyping",
    "userStoppedTyping",
];

/// One event from a chat-room browser.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// `login(name, userId[, profilePictureVisible])`.
    Login(Login),
    /// `enterRoom(roomId[, subRoomId])`.
    EnterRoom(RoomKey),
    /// `message(msg, roomId[, subRoomId])`.
    Message(OutgoingMessage),
    /// `userStartedTyping(roomId)` / `userStoppedTyping(roomId)`.
    Typing { key: RoomKey, typing: TypingKind },
}

/// `login(name, userId[, profilePictureVisible])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub name: String,
    pub user: UserId,
    /// `None` when the page sent no flag (pages before ILIAS 10).
    pub profile_picture_visible: Option<bool>,
}

/// `msg = {content, format, target?}` of a `message` event, and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub key: RoomKey,
    pub content: String,
    pub format: Value,
    pub target: Option<Target>,
}

/// A whisper or address: the browser's object is kept verbatim for the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub user: UserId,
    pub public: bool,
    pub raw: Value,
}

/// Which typing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingKind {
    Started,
    Stopped,
}

impl TypingKind {
    /// The event name, also the name of the event sent on.
    pub fn event(self) -> &'static str {
        match self {
            TypingKind::Started => "userStartedTyping",
            TypingKind::Stopped => "userStoppedTyping",
        }
    }

    /// The payload's `type`.
    pub fn kind(self) -> &'static str {
        match self {
            TypingKind::Started => "user_started_typing",
            TypingKind::Stopped => "user_stopped_typing",
        }
    }
}

/// The longest name a browser may log in with: it is stored as
/// `{"login": name, "id": id}` in `chatroom_users.userdata` and
/// `chatroom_sessions.userdata` (`varchar(4000)`), which this leaves room for even when
/// every character needs JSON escaping as `\"`. ILIAS's own names are far shorter
/// (`usr_data.login` is a `varchar(190)`; a public name is first and last name).
pub const MAX_LOGIN_NAME_CHARS: usize = 1000;

fn login_name(args: &EventArgs) -> Result<String, ArgError> {
    let name = args.text(0, "name")?;
    if name.chars().count() > MAX_LOGIN_NAME_CHARS {
        return Err(ArgError::TooLong {
            index: 0,
            what: "name",
            max: MAX_LOGIN_NAME_CHARS,
        });
    }
    Ok(name)
}

impl RoomEvent {
    /// Parses an event of this namespace; ILIAS 8 adds sub-room ids to room ids.
    pub fn parse(name: &str, args: &EventArgs, generation: Generation) -> Result<Self, Refused> {
        let event = match name {
            "login" => RoomEvent::Login(Login {
                name: login_name(args)?,
                user: args.id(1, "user id")?,
                // The original stores whatever the page sends and never refuses a
                // login for it; the browsers only test it for truth, so JavaScript
                // truthiness it is.
                profile_picture_visible: args.get(2).map(truthy),
            }),
            "enterRoom" => RoomEvent::EnterRoom(room_key(args, 0, generation)?),
            "message" => RoomEvent::Message(parse_message(args, generation)?),
            "userStartedTyping" => RoomEvent::Typing {
                key: room_key(args, 0, generation)?,
                typing: TypingKind::Started,
            },
            "userStoppedTyping" => RoomEvent::Typing {
                key: room_key(args, 0, generation)?,
                typing: TypingKind::Stopped,
            },
            _ => return Err(Refused::because("not an event of this namespace")),
        };
        Ok(event)
    }
}

/// The room an event names: ILIAS 8 sends a sub-room id after the room id; ILIAS 9
/// clients still send a `0` there, which is ignored.
fn room_key(args: &EventArgs, index: usize, generation: Generation) -> Result<RoomKey, ArgError> {
    let room_id = args.id(index, "room id")?;
    let sub_room = match generation {
        Generation::Ilias8 => sub_room_id(args.get(index + 1), index + 1)?,
        _ => 0,
    };
    Ok(RoomKey { room_id, sub_room })
}

/// A sub-room id: absent, `null` or `0` mean the main room.
fn sub_room_id(value: Option<&Value>, index: usize) -> Result<i64, ArgError> {
    match value {
        None => Ok(0),
        Some(v) if v.as_i64() == Some(0) || v.as_str() == Some("0") => Ok(0),
        Some(v) => id_value(v, index, "sub-room id"),
    }
}

fn not_an_object(what: &'static str) -> ArgError {
    ArgError::Type {
        index: 0,
        what,
        expected: "an object",
        found: "another type".into(),
    }
}

fn parse_message(args: &EventArgs, generation: Generation) -> Result<OutgoingMessage, ArgError> {
    let msg = args.object(0, "message")?;
    let content = text_value(
        msg.get("content").unwrap_or(&Value::Null),
        0,
        "message.content",
    )?;
    let format = match msg.get("format") {
        None | Some(Value::Null) => json!({}),
        Some(format @ Value::Object(_)) => format.clone(),
        Some(_) => return Err(not_an_object("message.format")),
    };
    let target = match msg.get("target") {
        None | Some(Value::Null) => None,
        Some(raw @ Value::Object(fields)) => Some(Target {
            user: id_value(
                fields.get("id").unwrap_or(&Value::Null),
                0,
                "message.target.id",
            )?,
            public: fields.get("public").is_some_and(truthy),
            raw: raw.clone(),
        }),
        Some(_) => return Err(not_an_object("message.target")),
    };
    Ok(OutgoingMessage {
        key: room_key(args, 1, generation)?,
        content,
        format,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(name: String) -> Result<RoomEvent, Refused> {
        RoomEvent::parse(
            "login",
            &EventArgs(vec![Value::String(name), json!(7)]),
            Generation::Ilias9,
        )
    }

    #[test]
    fn login_names_fit_the_userdata_column() {
        assert!(login("a".repeat(MAX_LOGIN_NAME_CHARS)).is_ok());
        assert_eq!(
            login("a".repeat(MAX_LOGIN_NAME_CHARS + 1)).err(),
            Some(Refused::Malformed(ArgError::TooLong {
                index: 0,
                what: "name",
                max: MAX_LOGIN_NAME_CHARS
            }))
        );
        // Even a name of quotes only, escaped, leaves its JSON within varchar(4000).
        let userdata = json!({"login": "\"".repeat(MAX_LOGIN_NAME_CHARS), "id": i64::MAX});
        assert!(userdata.to_string().chars().count() <= 4000);
    }
}
