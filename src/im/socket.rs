//! Inbound events of the on-screen chat namespace. Every handler parses its arguments
//! into a typed event first; anything malformed, any event before `login`, for an
//! unknown conversation or from a non-participant is logged at warn and ignored.
//!
//! Unlike the original, a socket may only act for the user it logged in as: events
//! whose `userId` argument names someone else are ignored. `login` itself is trusted
//! unless the client verifies ILIAS sessions (`verify_session`, see `crate::identity`):
//! then only the user of the handshake's session cookie may log in.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use super::model::{ParticipantRef, StoredMessage, UserId};
use super::payload::{ConversationJson, History, ImMessage, MessageRow, Typing};
use super::{READY_WAIT, emit_to_sockets, list_conversations, new_id, settled_store, store};
use crate::client::Client;
use crate::config::Generation;
use crate::escape::escape_html;
use crate::event_args::{ArgError, EventArgs, id_value, text_value};
use crate::event_queue::{Inbound, attach_namespace};
use crate::identity;
use crate::room::payload::now_ms;
use crate::store::Write;

/// The events of the on-screen chat namespace.
const EVENTS: &[&str] = &[
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

/// Registers the on-screen chat namespace of a client; each socket's events are handled
/// one at a time in arrival order (two messages sent back to back are stored and
/// delivered in that order), ending with the disconnect.
pub fn attach(io: &SocketIo, client: Arc<Client>) {
    let namespace = client.config.im_namespace();
    let gate = identity::gate(client.clone());
    attach_namespace(io, namespace, EVENTS, gate, move |socket, inbound| {
        let client = client.clone();
        async move { handle(&client, &socket, inbound).await }
    });
}

async fn handle(client: &Client, socket: &SocketRef, inbound: Inbound) {
    let (name, args) = match inbound {
        Inbound::Event { name, args } => (name, args),
        Inbound::Disconnect => {
            let user = client.im().socket_closed(socket.id);
            tracing::debug!(client = client.name(), sid = %socket.id, ?user, "on-screen chat socket disconnected");
            return;
        }
    };
    match name {
        "login" => on_login(client, socket, &args).await,
        "conversations" => on_conversations(client, socket).await,
        "conversation" => on_conversation(client, socket, &args).await,
        "addUser" => on_add_user(client, socket, &args).await,
        "removeUser" => on_remove_user(client, socket, &args),
        "message" => on_message(client, socket, &args),
        "history" => on_history(client, socket, &args).await,
        "activity" => on_activity(client, socket, &args),
        "closeConversation" => on_close(client, socket, &args),
        "userStartedTyping" | "userStoppedTyping" => on_typing(client, socket, &args, name),
        other => tracing::debug!(client = client.name(), event = other, "no handler"),
    }
}

fn ignored(client: &Client, socket: &SocketRef, event: &str, why: &dyn std::fmt::Display) {
    tracing::warn!(client = client.name(), sid = %socket.id, event, "ignored: {why}");
}

/// A conversation id: the UUID string the server handed out.
pub(super) fn conversation_id(args: &EventArgs, index: usize) -> Result<String, ArgError> {
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
pub(super) fn timestamp(value: &Value, index: usize, what: &'static str) -> Result<i64, ArgError> {
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

/// `login(userId, name)`.
pub(super) fn parse_login(args: &EventArgs) -> Result<(UserId, Option<String>), ArgError> {
    let user = args.id(0, "user id")?;
    let name = args.get(1).map(|v| text_value(v, 1, "name")).transpose()?;
    Ok((user, name))
}

async fn on_login(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (user, name) = match parse_login(args) {
        Ok(login) => login,
        Err(error) => return ignored(client, socket, "login", &error),
    };
    if let Err(refused) = identity::check_login(socket, user) {
        return ignored(client, socket, "login", &refused);
    }
    let me = client.im().login(socket.id, user, name);
    tracing::info!(
        client = client.name(),
        user,
        "on-screen chat participant logged in"
    );
    if let Err(error) = socket.emit("login", &me) {
        tracing::debug!(%error, "emit login failed");
    }
    list_conversations(client, user).await;
}

async fn on_conversations(client: &Client, socket: &SocketRef) {
    let user = match client.im().user_of_socket(socket.id) {
        Ok(user) => user,
        Err(error) => return ignored(client, socket, "conversations", &error),
    };
    list_conversations(client, user).await;
}

/// `conversation(participants)`: a list of `{id, name}` (ids as numbers or the numeric
/// strings browsers take from the DOM; the name may be absent).
pub(super) fn parse_participants_arg(
    args: &EventArgs,
) -> Result<Vec<(UserId, Option<String>)>, ArgError> {
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

async fn on_conversation(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let requested = match parse_participants_arg(args) {
        Ok(requested) => requested,
        Err(error) => {
            let why = format!("cannot initiate conversation: {error}");
            return ignored(client, socket, "conversation", &why);
        }
    };
    let requester = match client.im().user_of_socket(socket.id) {
        Ok(user) => user,
        Err(error) => return ignored(client, socket, "conversation", &error),
    };
    client.im_ready(READY_WAIT).await;
    let started = client
        .im()
        .start_conversation(requester, &requested, new_id());
    let started = match started {
        Ok(started) => started,
        Err(error) => return ignored(client, socket, "conversation", &error),
    };
    let id = started.view.id.clone();
    if started.created {
        tracing::info!(client = client.name(), conversation = %id, "conversation created");
        client.write(Write::ConversationInsert {
            id: id.clone(),
            is_group: started.view.is_group,
            participants: started.participants_json.clone(),
        });
    } else if started.changed {
        client.write(Write::ConversationUpdate {
            id: id.clone(),
            is_group: started.view.is_group,
            participants: started.participants_json.clone(),
        });
    }
    let mut view = started.view;
    // An existing conversation opens with its newest message, as in the original.
    if !started.created
        && let Some(store) = settled_store(client).await
    {
        match store::latest_message(&store, &id).await {
            Ok(Some(latest)) => {
                let mut im = client.im();
                im.set_latest_message(&id, Some(latest));
                if let Some(fresh) = im.view(&id) {
                    view = fresh;
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(client = client.name(), %error, "cannot read a latest message")
            }
        }
    }
    let sockets = client.im().sockets_of(requester);
    emit_to_sockets(
        client,
        &sockets,
        "conversation-init",
        &ConversationJson::of(&view, 0),
    );
}

/// `addUser(conversationId, userId, name)` / `removeUser(…)`: the user to add or
/// remove, with the name (required, as in the original).
pub(super) fn parse_member_change(args: &EventArgs) -> Result<(String, UserId, String), ArgError> {
    Ok((
        conversation_id(args, 0)?,
        args.id(1, "user id")?,
        args.text(2, "name")?,
    ))
}

async fn on_add_user(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, user, name) = match parse_member_change(args) {
        Ok(change) => change,
        Err(error) => return ignored(client, socket, "addUser", &error),
    };
    let requester = match client.im().user_of_socket(socket.id) {
        Ok(user) => user,
        Err(error) => return ignored(client, socket, "addUser", &error),
    };
    client.im_ready(READY_WAIT).await;
    let added = client
        .im()
        .add_user(requester, &conversation, user, &name, new_id());
    let added = match added {
        Ok(added) => added,
        Err(error) => return ignored(client, socket, "addUser", &error),
    };
    let view = added.view;
    let write = if added.created {
        tracing::info!(client = client.name(), from = %conversation, conversation = %view.id, "conversation turned into a group conversation");
        Write::ConversationInsert {
            id: view.id.clone(),
            is_group: true,
            participants: added.participants_json,
        }
    } else {
        Write::ConversationUpdate {
            id: view.id.clone(),
            is_group: view.is_group,
            participants: added.participants_json,
        }
    };
    client.write(write);
    for participant in &view.participants {
        client.write(Write::Activity {
            conversation_id: view.id.clone(),
            user_id: participant.id,
            timestamp_ms: 0,
        });
    }
    tracing::info!(client = client.name(), user, conversation = %view.id, "participant added");
    let json = ConversationJson::of(&view, 0);
    let sockets = client.im().sockets_of(requester);
    emit_to_sockets(client, &sockets, "conversation", &json);
    emit_to_sockets(client, &[socket.id], "addUser", &json);
}

fn on_remove_user(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, user, _name) = match parse_member_change(args) {
        Ok(change) => change,
        Err(error) => return ignored(client, socket, "removeUser", &error),
    };
    // Browsers only ever remove their own user (leaving a group).
    if let Err(error) = client.im().acting_as(socket.id, user) {
        return ignored(client, socket, "removeUser", &error);
    }
    let left = client.im().remove_user(&conversation, user);
    let left = match left {
        Ok(left) => left,
        Err(error) => return ignored(client, socket, "removeUser", &error),
    };
    client.write(Write::ConversationUpdate {
        id: conversation.clone(),
        is_group: left.view.is_group,
        participants: left.participants_json,
    });
    tracing::info!(client = client.name(), user, %conversation, "participant left the conversation");
    let json = ConversationJson::of(&left.view, 0);
    emit_to_sockets(client, &left.leaver_sockets, "removeUser", &json);
    emit_to_sockets(client, &left.remaining_sockets, "conversation", &json);
}

/// `message(conversationId, userId, text)`. The text is not length-limited beyond the
/// transport's 1 MB (`osc_messages.message` is a longtext).
pub(super) fn parse_message(args: &EventArgs) -> Result<(String, UserId, String), ArgError> {
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

fn on_message(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, user, text) = match parse_message(args) {
        Ok(message) => message,
        Err(error) => return ignored(client, socket, "message", &error),
    };
    if let Err(error) = client.im().acting_as(socket.id, user) {
        return ignored(client, socket, "message", &error);
    }
    let generation = client.generation();
    let message = StoredMessage {
        id: new_id(),
        conversation_id: conversation.clone(),
        user_id: user,
        message: match generation {
            Generation::Ilias8 | Generation::Ilias9 => escape_html(&text),
            Generation::Ilias10 => text,
        },
        timestamp: now_ms(),
    };
    let delivery = client.im().send(user, &message);
    let delivery = match delivery {
        Ok(delivery) => delivery,
        Err(error) => return ignored(client, socket, "message", &error),
    };
    let mut live = ImMessage::of(&message, generation);
    if !delivery.sender_accepts {
        tracing::info!(client = client.name(), user, %conversation, "message not delivered: the sender does not accept messages");
        emit_to_sockets(
            client,
            &delivery.sender_sockets,
            "senderSuppressesMessages",
            &live,
        );
        return;
    }
    if delivery.persist {
        client.write(Write::ConversationMessage {
            id: message.id.clone(),
            conversation_id: message.conversation_id.clone(),
            user_id: message.user_id,
            message: message.message.clone(),
            timestamp_ms: message.timestamp,
        });
    }
    let json = ConversationJson::of(&delivery.view, 0);
    emit_to_sockets(client, &delivery.recipients, "conversation", &json);
    emit_to_sockets(client, &delivery.recipients, "message", &live);
    if !delivery.ignored.is_empty() {
        live.ignored_participants = Some(delivery.ignored);
        emit_to_sockets(
            client,
            &delivery.sender_sockets,
            "participantsSuppressedMessages",
            &live,
        );
    }
    tracing::info!(client = client.name(), user, %conversation, "message sent");
}

/// `history(conversationId, oldestMessageTimestamp, reverseSorting?)`.
pub(super) fn parse_history(
    args: &EventArgs,
) -> Result<(String, Option<i64>, Option<bool>), ArgError> {
    Ok((
        conversation_id(args, 0)?,
        args.get(1)
            .map(|v| timestamp(v, 1, "oldest message timestamp"))
            .transpose()?,
        args.optional_bool(2, "reverseSorting")?,
    ))
}

async fn on_history(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, before, reverse) = match parse_history(args) {
        Ok(request) => request,
        Err(error) => return ignored(client, socket, "history", &error),
    };
    let user = match client.im().member(socket.id, &conversation) {
        Ok(user) => user,
        Err(error) => return ignored(client, socket, "history", &error),
    };
    let mut rows = match settled_store(client).await {
        Some(store) => store::history(&store, &conversation, before)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(client = client.name(), %error, "cannot read history");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let oldest = rows.iter().map(|m| m.timestamp).min().or(before);
    if reverse == Some(true) {
        rows.reverse();
    }
    let Some(view) = client.im().view(&conversation) else {
        return ignored(client, socket, "history", &"the conversation was removed");
    };
    let history = History {
        conversation: ConversationJson::of(&view, 0),
        messages: rows.iter().map(MessageRow::of).collect(),
        reverse_sorting: reverse,
        oldest_message_timestamp: oldest,
    };
    tracing::debug!(client = client.name(), %conversation, ?before, "history requested");
    let sockets = client.im().sockets_of(user);
    emit_to_sockets(client, &sockets, "history", &history);
}

/// `activity(conversationId, userId, timestamp)`.
pub(super) fn parse_activity(args: &EventArgs) -> Result<(String, UserId, i64), ArgError> {
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

/// The socket's user, who must be the named user and a participant.
fn acting_member(
    client: &Client,
    socket: &SocketRef,
    user: UserId,
    conversation: &str,
) -> Result<(), super::model::ImError> {
    let im = client.im();
    im.acting_as(socket.id, user)?;
    im.member(socket.id, conversation).map(|_| ())
}

fn on_activity(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, user, timestamp_ms) = match parse_activity(args) {
        Ok(activity) => activity,
        Err(error) => return ignored(client, socket, "activity", &error),
    };
    if let Err(error) = acting_member(client, socket, user, &conversation) {
        return ignored(client, socket, "activity", &error);
    }
    tracing::debug!(client = client.name(), user, %conversation, timestamp_ms, "activity");
    client.write(Write::Activity {
        conversation_id: conversation,
        user_id: user,
        timestamp_ms,
    });
}

/// `closeConversation(conversationId, userId)` and the typing events.
pub(super) fn parse_conversation_user(args: &EventArgs) -> Result<(String, UserId), ArgError> {
    Ok((conversation_id(args, 0)?, args.id(1, "user id")?))
}

fn on_close(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let (conversation, user) = match parse_conversation_user(args) {
        Ok(close) => close,
        Err(error) => return ignored(client, socket, "closeConversation", &error),
    };
    if let Err(error) = acting_member(client, socket, user, &conversation) {
        return ignored(client, socket, "closeConversation", &error);
    }
    tracing::info!(client = client.name(), user, %conversation, "conversation closed");
    client.write(Write::CloseConversation {
        conversation_id: conversation,
        user_id: user,
        now_ms: now_ms(),
    });
}

fn on_typing(client: &Client, socket: &SocketRef, args: &EventArgs, event: &'static str) {
    let (conversation, user) = match parse_conversation_user(args) {
        Ok(typing) => typing,
        Err(error) => return ignored(client, socket, event, &error),
    };
    let typing = {
        let im = client.im();
        im.acting_as(socket.id, user)
            .and_then(|_| im.typing(user, &conversation))
    };
    let (view, participant, recipients): (_, ParticipantRef, Vec<_>) = match typing {
        Ok(typing) => typing,
        Err(error) => return ignored(client, socket, event, &error),
    };
    let payload = Typing {
        conversation: ConversationJson::of(&view, 0),
        participant,
    };
    emit_to_sockets(client, &recipients, event, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(values: Value) -> EventArgs {
        EventArgs::from(values)
    }

    #[test]
    fn login_takes_id_and_optional_name() {
        assert_eq!(
            parse_login(&args(json!([6, "ann"]))),
            Ok((6, Some("ann".into())))
        );
        assert_eq!(parse_login(&args(json!(["6"]))), Ok((6, None)));
        assert!(parse_login(&args(json!([]))).is_err());
        assert!(parse_login(&args(json!([6, 7]))).is_err());
        assert!(parse_login(&args(json!([0, "x"]))).is_err());
    }

    #[test]
    fn participants_must_be_objects_with_ids() {
        assert_eq!(
            parse_participants_arg(&args(
                json!([[{"id": 6, "name": "ann"}, {"id": "7", "name": "bob"}, {"id": 8}]])
            )),
            Ok(vec![
                (6, Some("ann".into())),
                (7, Some("bob".into())),
                (8, None)
            ])
        );
        assert!(parse_participants_arg(&args(json!([[6, 7]]))).is_err());
        assert!(parse_participants_arg(&args(json!([[{"name": "x"}]]))).is_err());
        assert!(parse_participants_arg(&args(json!([{"id": 6}]))).is_err());
        assert!(parse_participants_arg(&args(json!([]))).is_err());
    }

    #[test]
    fn conversation_ids_are_bounded_strings() {
        assert_eq!(conversation_id(&args(json!(["abc"])), 0), Ok("abc".into()));
        assert!(conversation_id(&args(json!([5])), 0).is_err());
        assert!(conversation_id(&args(json!([""])), 0).is_err());
        assert!(conversation_id(&args(json!(["x".repeat(256)])), 0).is_err());
        assert!(conversation_id(&args(json!([null])), 0).is_err());
    }

    #[test]
    fn messages_need_a_string_text() {
        assert_eq!(
            parse_message(&args(json!(["c", 6, "hi"]))),
            Ok(("c".into(), 6, "hi".into()))
        );
        // Longer than a chat-room message: the column is a longtext.
        let long = "x".repeat(10_000);
        assert!(parse_message(&args(json!(["c", 6, long]))).is_ok());
        assert!(parse_message(&args(json!(["c", 6, {"content": "hi"}]))).is_err());
        assert!(parse_message(&args(json!(["c", 6]))).is_err());
        assert!(parse_message(&args(json!(["c", "me", "hi"]))).is_err());
    }

    #[test]
    fn history_takes_an_optional_timestamp_and_sorting() {
        assert_eq!(
            parse_history(&args(json!(["c", null]))),
            Ok(("c".into(), None, None))
        );
        assert_eq!(
            parse_history(&args(json!(["c", 1_700_000_000_123_i64, true]))),
            Ok(("c".into(), Some(1_700_000_000_123), Some(true)))
        );
        assert_eq!(
            parse_history(&args(json!(["c", "17", false]))),
            Ok(("c".into(), Some(17), Some(false)))
        );
        assert!(parse_history(&args(json!(["c", -1]))).is_err());
        assert!(parse_history(&args(json!(["c", "soon"]))).is_err());
        assert!(parse_history(&args(json!(["c", 5, "yes"]))).is_err());
    }

    #[test]
    fn activity_and_close_need_user_ids() {
        assert_eq!(
            parse_activity(&args(json!(["c", 6, 1_700_000_000_000_i64]))),
            Ok(("c".into(), 6, 1_700_000_000_000))
        );
        assert_eq!(
            parse_activity(&args(json!(["c", 6, 1.7e12]))),
            Ok(("c".into(), 6, 1_700_000_000_000))
        );
        assert!(parse_activity(&args(json!(["c", 6]))).is_err());
        assert_eq!(
            parse_conversation_user(&args(json!(["c", "6"]))),
            Ok(("c".into(), 6))
        );
        assert!(parse_conversation_user(&args(json!(["c"]))).is_err());
    }

    #[test]
    fn member_changes_take_a_user_and_a_name() {
        assert_eq!(
            parse_member_change(&args(json!(["c", 7, "bob"]))),
            Ok(("c".into(), 7, "bob".into()))
        );
        assert!(parse_member_change(&args(json!(["c", 7]))).is_err());
        assert!(parse_member_change(&args(json!(["c", 7, null]))).is_err());
        assert!(parse_member_change(&args(json!(["c", null, "bob"]))).is_err());
    }
}
