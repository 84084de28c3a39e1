//! The inbound events of the on-screen chat namespace, parsed once from the event name
//! and its arguments into [`ImEvent`]. Everything after this works on typed values;
//! whatever does not parse is refused here with what was wrong.

use serde_json::Value;

use crate::ids::UserId;
use crate::socket::Refused;
use crate::socket::args::{ArgError, EventArgs, id_value, text_value};

/// The event names this namespace listens for.
pub const NAMES: &[&str] = &[
    "login",
    "conversations",
    "conversation",
    "addUser",
    "removeUser",
    "message",
    "history",
    "activity",
    "closeConversation",
    "userStartedTyping",
    "userStoppedTyping",
];

/// One event from an on-screen chat browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImEvent {
    /// `login(userId, name)`.
    Login { user: UserId, name: Option<String> },
    /// `conversations()`: list mine again.
    Conversations,
    /// `conversation(participants)`: open (or create) the conversation of these users.
    Conversation(Vec<(UserId, Option<String>)>),
    /// `addUser(conversationId, userId, name)`.
    AddUser(MemberChange),
    /// `removeUser(conversationId, userId, name)`.
    RemoveUser(MemberChange),
    /// `message(conversationId, userId, text)`.
    Message {
        conversation: String,
        user: UserId,
        text: String,
    },
    /// `history(conversationId, oldestMessageTimestamp, reverseSorting?)`. The sorting
    /// flag is kept as sent: the original reverses on JavaScript truthiness and echoes
    /// the value unchanged.
    History {
        conversation: String,
        before: Option<i64>,
        reverse: Option<Value>,
    },
    /// `activity(conversationId, userId, timestamp)`.
    Activity {
        conversation: String,
        user: UserId,
        timestamp_ms: i64,
    },
    /// `closeConversation(conversationId, userId)`.
    Close { conversation: String, user: UserId },
    /// `userStartedTyping` / `userStoppedTyping(conversationId, userId)`.
    Typing {
        conversation: String,
        user: UserId,
        event: &'static str,
    },
}

/// `addUser` / `removeUser`: the user to add or remove, with the name (required, as in
/// the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub conversation: String,
    pub user: UserId,
    pub name: String,
}

impl ImEvent {
    /// Parses an event of this namespace.
    pub fn parse(name: &str, args: &EventArgs) -> Result<ImEvent, Refused> {
        let event = match name {
            "login" => {
                let (user, name) = parse_login(args)?;
                ImEvent::Login { user, name }
            }
            "conversations" => ImEvent::Conversations,
            "conversation" => ImEvent::Conversation(parse_participants_arg(args)?),
            "addUser" => ImEvent::AddUser(parse_member_change(args)?),
            "removeUser" => ImEvent::RemoveUser(parse_member_change(args)?),
            "message" => {
                let (conversation, user, text) = parse_message(args)?;
                ImEvent::Message {
                    conversation,
                    user,
                    text,
                }
            }
            "history" => {
                let (conversation, before, reverse) = parse_history(args)?;
                ImEvent::History {
                    conversation,
                    before,
                    reverse,
                }
            }
            "activity" => {
                let (conversation, user, timestamp_ms) = parse_activity(args)?;
                ImEvent::Activity {
                    conversation,
                    user,
                    timestamp_ms,
                }
            }
            "closeConversation" => {
                let (conversation, user) = parse_conversation_user(args)?;
                ImEvent::Close { conversation, user }
            }
            "userStartedTyping" | "userStoppedTyping" => {
                let (conversation, user) = parse_conversation_user(args)?;
                let event = match name {
                    "userStartedTyping" => "userStartedTyping",
                    _ => "userStoppedTyping",
                };
                ImEvent::Typing {
                    conversation,
                    user,
                    event,
                }
            }
            _ => return Err(Refused::because("not an event of this namespace")),
        };
        Ok(event)
    }
}

/// A conversation id: the UUID string the server handed out.
fn conversation_id(args: &EventArgs, index: usize) -> Result<String, ArgError> {
    let value = args.get(index).ok_or(ArgError::Missing {
        index,
        what: "conversation id",
    })?;
    let id = text_value(value, index, "conversation id")?;
    // `osc_conversation.id` is a varchar(255): anything longer is no id of ours.
    if id.is_empty() || id.chars().count() > 255 {
        return Err(ArgError::Type {
            index,
            what: "conversation id",
            expected: "a conversation id",
            found: "an empty or overlong string".into(),
        });
    }
    Ok(id)
}

/// A timestamp in milliseconds: a non-negative whole number, or a numeric string.
fn timestamp(value: &Value, index: usize, what: &'static str) -> Result<i64, ArgError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.filter(|t| *t >= 0).ok_or_else(|| ArgError::Type {
        index,
        what,
        expected: "a timestamp in milliseconds",
        found: match value {
            Value::String(_) => "a non-numeric string".into(),
            other => other.to_string().chars().take(40).collect(),
        },
    })
}

fn parse_login(args: &EventArgs) -> Result<(UserId, Option<String>), ArgError> {
    let user = args.id(0, "user id")?;
    let name = args.get(1).map(|v| text_value(v, 1, "name")).transpose()?;
    Ok((user, name))
}

/// `conversation(participants)`: a list of `{id, name}` (ids as numbers or the numeric
/// strings browsers take from the DOM; the name may be absent).
fn parse_participants_arg(args: &EventArgs) -> Result<Vec<(UserId, Option<String>)>, ArgError> {
    let value = args.get(0).ok_or(ArgError::Missing {
        index: 0,
        what: "participants",
    })?;
    let Value::Array(items) = value else {
        return Err(ArgError::Type {
            index: 0,
            what: "participants",
            expected: "an array",
            found: "another type".into(),
        });
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(fields) = item else {
                return Err(ArgError::Type {
                    index: 0,
                    what: "participant",
                    expected: "an object",
                    found: "another type".into(),
                });
            };
            let id = id_value(
                fields.get("id").unwrap_or(&Value::Null),
                0,
                "participant id",
            )?;
            let name = match fields.get("name") {
                None | Some(Value::Null) => None,
                Some(name) => Some(text_value(name, 0, "participant name")?),
            };
            Ok((id, name))
        })
        .collect()
}

fn parse_member_change(args: &EventArgs) -> Result<MemberChange, ArgError> {
    Ok(MemberChange {
        conversation: conversation_id(args, 0)?,
        user: args.id(1, "user id")?,
        name: args.text(2, "name")?,
    })
}

/// The text is not length-limited beyond the transport's 1 MB
/// (`osc_messages.message` is a longtext).
fn parse_message(args: &EventArgs) -> Result<(String, UserId, String), ArgError> {
    let conversation = conversation_id(args, 0)?;
    let user = args.id(1, "user id")?;
    let text = match args.get(2) {
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ArgError::Type {
                index: 2,
                what: "message",
                expected: "a string",
                found: "another type".into(),
            });
        }
        None => {
            return Err(ArgError::Missing {
                index: 2,
                what: "message",
            });
        }
    };
    Ok((conversation, user, text))
}

fn parse_history(args: &EventArgs) -> Result<(String, Option<i64>, Option<Value>), ArgError> {
    Ok((
        conversation_id(args, 0)?,
        args.get(1)
            .map(|v| timestamp(v, 1, "oldest message timestamp"))
            .transpose()?,
        args.get(2).cloned(),
    ))
}

fn parse_activity(args: &EventArgs) -> Result<(String, UserId, i64), ArgError> {
    Ok((
        conversation_id(args, 0)?,
        args.id(1, "user id")?,
        timestamp(
            args.get(2).ok_or(ArgError::Missing {
                index: 2,
                what: "timestamp",
            })?,
            2,
            "timestamp",
        )?,
    ))
}

fn parse_conversation_user(args: &EventArgs) -> Result<(String, UserId), ArgError> {
    Ok((conversation_id(args, 0)?, args.id(1, "user id")?))
}

#[cfg(test)]
mod tests;
