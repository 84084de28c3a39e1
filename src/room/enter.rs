//! Getting into a room. PHP announces a user (`Connect`) and allows them into a room
//! (`EnterPrivateRoom`); the browser then logs in (`login`) and enters (`enterRoom`),
//! and the room greets them.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path};
use serde_json::json;
use socketioxide::extract::SocketRef;

use super::backend::{Chat, Reply, RoomRequest, answer, failure, parse_id};
use super::events::Login;
use super::model::{EnterError, RoomKey};
use super::payload::{ActionHead, EnterAction, Notice, SubscriberRef};
use super::persist::{ensure_room, persist_notice, restore_presence};
use super::{RoomChat, emit, grace, userlist};
use crate::client::lock;
use crate::identity::check_login;
use crate::metrics::{self, Feature};
use crate::socket::Refused;

/// `Connect/<name>/<roomId>/<userId>`: PHP announces a user about to open a room.
pub(super) async fn connect(
    Extension(chat): Chat,
    Path((_, _room, user)): Path<(String, String, String)>,
) -> Reply {
    let user = match parse_id(&user, "user id") {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    chat.cancel_grace_timer(user);
    chat.rooms().connect(user);
    // A page being loaded shows the room's past messages itself.
    lock(&chat.replay).forget_user(user);
    tracing::info!(client = chat.name(), user, "new subscriber");
    Json(json!({"status": 200}))
}

/// `EnterPrivateRoom`: PHP allows the user into the room.
pub(super) async fn register(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            let user = request.id("user", "user id")?;
            chat.rooms().register(request.key, user).map_err(|error| {
                tracing::warn!(client = chat.name(), user, %error, "EnterPrivateRoom refused");
                failure(error.to_string())
            })?;
            Ok(request.success())
        }
        .await,
    )
}

/// `login`: the socket speaks for a user PHP announced.
pub(super) fn login(chat: &RoomChat, socket: &SocketRef, login: Login) -> Result<(), Refused> {
    check_login(socket, login.user).map_err(Refused::because)?;
    chat.cancel_grace_timer(login.user);
    grace::readmit(chat, login.user);
    let known = chat
        .rooms()
        .login(
            socket.id,
            login.user,
            login.name,
            login.profile_picture_visible,
        )
        .is_some();
    if !known {
        return Err(Refused::because(format!(
            "user {} was not announced by ILIAS (no Connect)",
            login.user
        )));
    }
    tracing::info!(client = chat.name(), user = login.user, "user logged in");
    match socket.emit("loggedIn", &[(); 0]) {
        Ok(()) => metrics::delivered(chat.name(), Feature::Room, "loggedIn", 1),
        Err(error) => tracing::debug!(%error, "emit loggedIn failed"),
    }
    Ok(())
}

/// `enterRoom`: the socket joins a room its user is registered in; the first time,
/// the room hears about it.
pub(super) async fn enter_room(
    chat: &Arc<RoomChat>,
    socket: &SocketRef,
    key: RoomKey,
) -> Result<(), Refused> {
    if let Some(user) = chat.rooms().user_of_socket(socket.id).map(|s| s.id) {
        chat.cancel_grace_timer(user);
    }
    if !ensure_room(chat, key).await {
        return Err(Refused::because(EnterError::UnknownRoom));
    }
    let one_at_a_time = lock(&chat.entering);
    let entered = chat
        .rooms()
        .enter(socket.id, key)
        .map_err(Refused::because)?;
    let scope = emit::scope(chat, key);
    emit::join_room(chat, socket, entered.subscriber.id, key);
    let enter = EnterAction {
        head: ActionHead::new(scope, "private_room_entered"),
        subscriber: SubscriberRef::of(&entered.subscriber),
    };
    emit::to_sockets(chat, &[socket.id], "private_room_entered", &enter);
    if userlist::pace(chat, key) == userlist::Send::Now {
        userlist::send_now(chat, key);
    } else {
        // The room hears of the entry a moment later; the browser entering needs its
        // list now.
        emit::userlist_to_sockets(chat, &[socket.id], key);
    }
    if entered.rejoined {
        restore_presence(chat, key, &entered.subscriber);
    }
    if entered.already_joined {
        return Ok(());
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
    emit::to_sockets(chat, &[socket.id], "notice", &welcome);
    let connect = Notice::new(scope, to_others, Some(data));
    emit::to_others_in_room(chat, socket, key, "notice", &connect);
    drop(one_at_a_time);
    persist_notice(chat, key, &connect);
    Ok(())
}
