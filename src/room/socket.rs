//! Inbound events of the chat-room namespace. Every handler parses its arguments into
//! a typed event first; anything malformed is logged at warn and ignored, so one bad
//! browser can never disturb another connection.

use std::sync::Arc;

use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use super::model::{EnterError, RoomKey, SpeakError};
use super::payload::{
    ActionHead, ChatMessage, EnterAction, Notice, Scope, Sender, Stored, SubscriberRef, Typing,
    Userlist,
};
use super::{emit_to_room, emit_to_sockets, ensure_room, grace, persist_notice, persist_stored};
use crate::client::Client;
use crate::config::Generation;
use crate::escape::escape_html;
use crate::event_args::{ArgError, EventArgs, id_value, text_value, truthy};
use crate::event_queue::{Inbound, attach_namespace};
use crate::identity;

/// The events of the chat-room namespace.
const EVENTS: &[&str] = &[
    "login",
    "enterRoom",
    "message",
    "userStartedTyping",
    "userStoppedTyping",
];

/// Registers the chat-room namespace of a client; each socket's events are handled one
/// at a time, in the order the browser sent them.
pub fn attach(io: &SocketIo, client: Arc<Client>) {
    let namespace = client.config.room_namespace();
    let gate = identity::gate(client.clone());
    attach_namespace(io, namespace, EVENTS, gate, move |socket, inbound| {
        let client = client.clone();
        async move { handle(&client, &socket, inbound).await }
    });
}

async fn handle(client: &Arc<Client>, socket: &SocketRef, inbound: Inbound) {
    match inbound {
        Inbound::Event {
            name: "login",
            args,
        } => on_login(client, socket, &args),
        Inbound::Event {
            name: "enterRoom",
            args,
        } => on_enter_room(client, socket, &args).await,
        Inbound::Event {
            name: "message",
            args,
        } => on_message(client, socket, &args).await,
        Inbound::Event {
            name: "userStartedTyping",
            args,
        } => on_typing(
            client,
            socket,
            &args,
            "userStartedTyping",
            "user_started_typing",
        ),
        Inbound::Event {
            name: "userStoppedTyping",
            args,
        } => on_typing(
            client,
            socket,
            &args,
            "userStoppedTyping",
            "user_stopped_typing",
        ),
        Inbound::Event { name, .. } => {
            ignored(client, socket, name, &"not an event of this namespace")
        }
        Inbound::Disconnect => on_disconnect(client, socket),
    }
}

/// A closed socket; when it was the user's last one, the grace period starts.
fn on_disconnect(client: &Arc<Client>, socket: &SocketRef) {
    let closed = client.rooms().socket_closed(socket.id);
    tracing::debug!(client = client.name(), sid = %socket.id, "room socket disconnected");
    if let Some((user, true)) = closed {
        grace::start(client, user);
    }
}

fn ignored(client: &Client, socket: &SocketRef, event: &str, why: &dyn std::fmt::Display) {
    tracing::warn!(client = client.name(), sid = %socket.id, event, "ignored: {why}");
}

/// `login(name, userId[, profilePictureVisible])`.
struct Login {
    name: String,
    user: i64,
    profile_picture_visible: Option<bool>,
}

fn parse_login(args: &EventArgs) -> Result<Login, ArgError> {
    Ok(Login {
        name: args.text(0, "name")?,
        user: args.id(1, "user id")?,
        profile_picture_visible: args.optional_bool(2, "profilePictureVisible")?,
    })
}

fn on_login(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let login = match parse_login(args) {
        Ok(login) => login,
        Err(error) => return ignored(client, socket, "login", &error),
    };
    if let Err(refused) = identity::check_login(socket, login.user) {
        return ignored(client, socket, "login", &refused);
    }
    client.cancel_grace_timer(login.user);
    let known = client
        .rooms()
        .login(
            socket.id,
            login.user,
            login.name,
            login.profile_picture_visible,
        )
        .is_some();
    if !known {
        let why = format!(
            "user {} was not announced by ILIAS (no Connect)",
            login.user
        );
        return ignored(client, socket, "login", &why);
    }
    tracing::info!(client = client.name(), user = login.user, "user logged in");
    if let Err(error) = socket.emit("loggedIn", &[(); 0]) {
        tracing::debug!(%error, "emit loggedIn failed");
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

async fn on_enter_room(client: &Arc<Client>, socket: &SocketRef, args: &EventArgs) {
    let generation = client.generation();
    let key = match room_key(args, 0, generation) {
        Ok(key) => key,
        Err(error) => return ignored(client, socket, "enterRoom", &error),
    };
    if let Some(user) = client.rooms().user_of_socket(socket.id).map(|s| s.id) {
        client.cancel_grace_timer(user);
    }
    if !ensure_room(client, key).await {
        return ignored(client, socket, "enterRoom", &EnterError::UnknownRoom);
    }
    let (entered, members) = {
        let mut rooms = client.rooms();
        match rooms.enter(socket.id, key) {
            Ok(entered) => (entered, rooms.members(key)),
            Err(
                error @ (EnterError::NotLoggedIn
                | EnterError::UnknownRoom
                | EnterError::NotRegistered),
            ) => {
                drop(rooms);
                return ignored(client, socket, "enterRoom", &error);
            }
        }
    };
    let scope = Scope::of(key, generation);
    socket.join(key.socket_room());
    let enter = EnterAction {
        head: ActionHead::new(scope, "private_room_entered"),
        subscriber: SubscriberRef::of(&entered.subscriber),
    };
    emit_to_sockets(client, &[socket.id], "private_room_entered", &enter);
    emit_to_room(
        client,
        key,
        "userlist",
        &Userlist::new(scope, &members, generation),
    )
    .await;
    if entered.already_joined {
        return;
    }
    let data = json!({
        "id": entered.subscriber.id,
        "username": entered.subscriber.username(),
        "title": entered.room_title,
    });
    // ILIAS 8 private rooms greet with their own language keys.
    let (to_self, to_others) = match key.sub_room {
        0 => ("welcome_to_chat", "connect"),
        _ => ("private_room_entered", "private_room_entered_user"),
    };
    let welcome = Notice::new(scope, to_self, Some(data.clone()));
    emit_to_sockets(client, &[socket.id], "notice", &welcome);
    let connect = Notice::new(scope, to_others, Some(data));
    if let Err(error) = socket.to(key.socket_room()).emit("notice", &connect).await {
        tracing::debug!(%error, "broadcast connect notice failed");
    }
    persist_notice(client, key, &connect);
}

/// `message(msg, roomId[, subRoomId])` with `msg = {content, format, target?}`.
struct OutgoingMessage {
    key: RoomKey,
    content: String,
    format: Value,
    target: Option<Target>,
}

/// A whisper or address: the browser's object is kept verbatim for the payload.
struct Target {
    user: i64,
    public: bool,
    raw: Value,
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
        Some(_) => {
            return Err(ArgError::Type {
                index: 0,
                what: "message.format",
                expected: "an object",
                found: "another type".into(),
            });
        }
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
        Some(_) => {
            return Err(ArgError::Type {
                index: 0,
                what: "message.target",
                expected: "an object",
                found: "another type".into(),
            });
        }
    };
    Ok(OutgoingMessage {
        key: room_key(args, 1, generation)?,
        content,
        format,
        target,
    })
}

/// The longest `chatroom_history.message` ILIAS can store (`varchar(4000)`).
const MAX_STORED_CHARS: usize = 4000;

async fn on_message(client: &Client, socket: &SocketRef, args: &EventArgs) {
    let generation = client.generation();
    let message = match parse_message(args, generation) {
        Ok(message) => message,
        Err(error) => return ignored(client, socket, "message", &error),
    };
    if !ensure_room(client, message.key).await {
        return ignored(client, socket, "message", &SpeakError::UnknownRoom);
    }
    let (sender, recipients) = {
        let rooms = client.rooms();
        let sender = match rooms.speaker(socket.id, message.key) {
            Ok(sender) => sender.clone(),
            Err(error) => {
                drop(rooms);
                return ignored(client, socket, "message", &error);
            }
        };
        let recipients = match &message.target {
            Some(target) if !target.public => match rooms.subscriber(target.user) {
                Some(receiver) => Some([sender.sockets.clone(), receiver.sockets.clone()].concat()),
                None => {
                    drop(rooms);
                    let why = format!("whisper to unknown user {}", target.user);
                    return ignored(client, socket, "message", &why);
                }
            },
            _ => None,
        };
        (sender, recipients)
    };
    let content = match generation {
        Generation::Ilias8 | Generation::Ilias9 => escape_html(&message.content),
        Generation::Ilias10 => message.content,
    };
    let scope = Scope::of(message.key, generation);
    let payload = ChatMessage::new(
        scope,
        Sender::of(&sender, generation),
        content,
        message.format,
        message.target.map(|t| t.raw),
    );
    // What ILIAS cannot store is not delivered either: everyone sees the same history.
    let (stored, timestamp_s) = payload.stored();
    if stored.chars().count() > MAX_STORED_CHARS {
        let notice = Notice::new(scope, "message_too_long", None);
        emit_to_sockets(client, &[socket.id], "notice", &notice);
        return ignored(client, socket, "message", &"message too long to be stored");
    }
    match recipients {
        Some(sockets) => emit_to_sockets(client, &sockets, "message", &payload),
        None => emit_to_room(client, message.key, "message", &payload).await,
    }
    persist_stored(client, message.key, stored, timestamp_s);
}

/// `userStartedTyping(roomId)` / `userStoppedTyping(roomId)`: told to every other
/// registered user of the room; nothing is stored.
fn on_typing(
    client: &Client,
    socket: &SocketRef,
    args: &EventArgs,
    event: &'static str,
    kind: &'static str,
) {
    let generation = client.generation();
    let key = match room_key(args, 0, generation) {
        Ok(key) => key,
        Err(error) => return ignored(client, socket, event, &error),
    };
    let (sender, recipients) = {
        let rooms = client.rooms();
        match rooms.speaker(socket.id, key) {
            Ok(sender) => {
                let sender = SubscriberRef::of(sender);
                let recipients = rooms.other_registered_sockets(key, sender.id);
                (sender, recipients)
            }
            Err(error) => {
                drop(rooms);
                return ignored(client, socket, event, &error);
            }
        }
    };
    let payload = Typing {
        head: ActionHead::new(Scope::of(key, generation), kind),
        subscriber: serde_json::to_string(&sender).unwrap_or_default(),
    };
    emit_to_sockets(client, &recipients, event, &payload);
}
