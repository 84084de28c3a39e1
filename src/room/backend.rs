//! Backend routes PHP calls for chat rooms. ILIAS 9/10 paths are
//! `/<Action>/<name>/<roomId>/…`; ILIAS 8 inserts a sub-room id after the room id, so
//! both shapes are registered and told apart by their segment count. Answers are
//! always JSON with HTTP 200: PHP forwards them to the browser, which shows `reason`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Extension, Path};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::model::{RegisterError, RoomKey, UserId};
use super::payload::{ActionHead, CreateAction, InviteAction, Notice, Scope};
use super::{
    broadcast_userlist, emit_to_room, emit_to_sockets, ensure_room, leave_socket_room,
    send_userlist,
};
use crate::client::Client;
use crate::config::Generation;

type Reply = Json<Value>;
type Ext = Extension<Arc<Client>>;

/// The chat-room routes (paths are lower-case: the backend router folds action names).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/backend/connect/{name}/{room}/{user}", get(connect))
        .route(
            "/backend/createprivateroom/{name}/{room}/{owner}/{title}",
            get(create),
        )
        .route(
            "/backend/createprivateroom/{name}/{room}/{sub}/{owner}/{title}",
            get(create_8),
        )
        .route("/backend/enterprivateroom/{name}/{room}/{user}", get(enter))
        .route(
            "/backend/enterprivateroom/{name}/{room}/{sub}/{user}",
            get(enter_8),
        )
        .route("/backend/leaveprivateroom/{name}/{room}/{user}", get(leave))
        .route(
            "/backend/leaveprivateroom/{name}/{room}/{sub}/{user}",
            get(leave_8),
        )
        .route(
            "/backend/deleteprivateroom/{name}/{room}/{sub}/{user}",
            get(delete_8),
        )
        .route(
            "/backend/inviteprivateroom/{name}/{room}/{host}/{invitee}",
            get(invite),
        )
        .route(
            "/backend/inviteprivateroom/{name}/{room}/{sub}/{host}/{invitee}",
            get(invite_8),
        )
        .route("/backend/clearmessages/{name}/{room}/{actor}", get(clear))
        .route(
            "/backend/clearmessages/{name}/{room}/{sub}/{actor}",
            get(clear_8),
        )
        .route("/backend/kick/{name}/{room}/{user}", get(kick))
        .route("/backend/kick/{name}/{room}/{sub}/{user}", get(kick_8))
        .route("/backend/ban/{name}/{room}/{user}", get(ban))
        .route("/backend/ban/{name}/{room}/{sub}/{user}", get(ban_8))
        .route("/backend/getrooms/{name}", get(get_rooms))
        .route("/backend/post/{name}/{room}", get(post))
}

/// A JSON failure PHP can forward to the browser.
fn failure(reason: impl Into<String>) -> Reply {
    Json(json!({"success": false, "reason": reason.into()}))
}

/// The room a route addresses, and whether the ILIAS 8 shape was used (its answers
/// carry `subRoomId`).
#[derive(Debug, Clone, Copy)]
struct Addressed {
    key: RoomKey,
    ilias8_shape: bool,
}

impl Addressed {
    fn parse(room: &str, sub: Option<&str>) -> Result<Addressed, Reply> {
        Ok(Addressed {
            key: RoomKey {
                room_id: parse_id(room, "room id")?,
                sub_room: sub
                    .map(|s| parse_id(s, "sub-room id"))
                    .transpose()?
                    .unwrap_or(0),
            },
            ilias8_shape: sub.is_some(),
        })
    }

    fn success(self) -> Reply {
        match self.ilias8_shape {
            true => Json(json!({"success": true, "subRoomId": self.key.sub_room})),
            false => Json(json!({"success": true})),
        }
    }
}

fn parse_id(text: &str, what: &str) -> Result<i64, Reply> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| failure(format!("invalid {what}: {text:?}")))
}

/// Runs an action on a parsed, existing room; every error becomes a JSON failure.
async fn on_room<F, Fut>(client: &Client, room: &str, sub: Option<&str>, action: F) -> Reply
where
    F: FnOnce(Addressed) -> Fut,
    Fut: Future<Output = Result<Reply, Reply>>,
{
    let addressed = match Addressed::parse(room, sub) {
        Ok(addressed) => addressed,
        Err(reply) => return reply,
    };
    if !ensure_room(client, addressed.key).await {
        tracing::warn!(client = client.name(), room = %addressed.key.socket_room(), "unknown room");
        return failure(RegisterError::UnknownRoom.to_string());
    }
    action(addressed).await.unwrap_or_else(|reply| reply)
}

fn scope(client: &Client, key: RoomKey) -> Scope {
    Scope::of(key, client.generation())
}

/// `Connect/<name>/<roomId>/<userId>`: PHP announces a user about to open a room.
async fn connect(
    Extension(client): Ext,
    Path((_, _room, user)): Path<(String, String, String)>,
) -> Reply {
    let user = match parse_id(&user, "user id") {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    client.cancel_grace_timer(user);
    client.rooms().connect(user);
    tracing::info!(client = client.name(), user, "new subscriber");
    Json(json!({"status": 200}))
}

async fn create(
    Extension(c): Ext,
    Path((_, room, owner, title)): Path<(String, String, String, String)>,
) -> Reply {
    create_room(&c, &room, None, &owner, title).await
}

async fn create_8(
    Extension(c): Ext,
    Path((_, room, sub, owner, title)): Path<(String, String, String, String, String)>,
) -> Reply {
    create_room(&c, &room, Some(&sub), &owner, title).await
}

/// `CreatePrivateRoom`: makes a room known (ILIAS 9/10 call it for every new chat
/// room; ILIAS 8 also for private rooms, whose owner is told).
async fn create_room(
    client: &Client,
    room: &str,
    sub: Option<&str>,
    owner: &str,
    title: String,
) -> Reply {
    let addressed = match Addressed::parse(room, sub) {
        Ok(addressed) => addressed,
        Err(reply) => return reply,
    };
    let owner_id = match parse_id(owner, "owner id") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let key = addressed.key;
    let (added, owner_sockets) = {
        let mut rooms = client.rooms();
        (
            rooms.add_room(key, &title, Some(owner.to_string())),
            rooms.sockets_of(owner_id),
        )
    };
    tracing::info!(client = client.name(), room = %key.socket_room(), added, "room created");
    if added && key.sub_room > 0 {
        let action = CreateAction {
            head: ActionHead::new(scope(client, key), "private_room_created"),
            title,
            owner_id: owner.to_string(),
        };
        emit_to_sockets(client, &owner_sockets, "private_room_created", &action);
    }
    addressed.success()
}

async fn enter(Extension(c): Ext, Path((_, room, user)): Path<(String, String, String)>) -> Reply {
    enter_room(&c, &room, None, &user).await
}

async fn enter_8(
    Extension(c): Ext,
    Path((_, room, sub, user)): Path<(String, String, String, String)>,
) -> Reply {
    enter_room(&c, &room, Some(&sub), &user).await
}

/// `EnterPrivateRoom`: PHP allows the user into the room.
async fn enter_room(client: &Client, room: &str, sub: Option<&str>, user: &str) -> Reply {
    on_room(client, room, sub, async |at| {
        let user = parse_id(user, "user id")?;
        client.rooms().register(at.key, user).map_err(|error| {
            tracing::warn!(client = client.name(), user, %error, "EnterPrivateRoom refused");
            failure(error.to_string())
        })?;
        Ok(at.success())
    })
    .await
}

async fn leave(Extension(c): Ext, Path((_, room, user)): Path<(String, String, String)>) -> Reply {
    leave_room(&c, &room, None, &user).await
}

async fn leave_8(
    Extension(c): Ext,
    Path((_, room, sub, user)): Path<(String, String, String, String)>,
) -> Reply {
    leave_room(&c, &room, Some(&sub), &user).await
}

/// `LeavePrivateRoom`: the user's browser leaves the room (PHP's registration stays).
async fn leave_room(client: &Client, room: &str, sub: Option<&str>, user: &str) -> Reply {
    on_room(client, room, sub, async |at| {
        let user = parse_id(user, "user id")?;
        let left = client
            .rooms()
            .leave(at.key, user)
            .map_err(|e| failure(e.to_string()))?;
        leave_socket_room(client, &left.sockets, at.key);
        // ILIAS 8 sends the leaver back to the main room.
        let back_to = RoomKey::main(at.key.room_id);
        let back_to = if client.generation() == Generation::Ilias8 {
            back_to
        } else {
            at.key
        };
        emit_to_sockets(
            client,
            &left.sockets,
            "notice",
            &Notice::new(scope(client, back_to), "left", None),
        );
        send_userlist(client, &left.sockets, back_to);
        broadcast_userlist(client, at.key).await;
        let data = json!({"user": left.username, "title": left.room_title});
        let notice = Notice::new(scope(client, at.key), "private_room_left", Some(data));
        emit_to_room(client, at.key, "notice", &notice).await;
        Ok(at.success())
    })
    .await
}

async fn delete_8(
    Extension(c): Ext,
    Path((_, room, sub, _user)): Path<(String, String, String, String)>,
) -> Reply {
    on_room(&c, &room, Some(&sub), async |at| {
        let deleted = c
            .rooms()
            .delete_room(at.key)
            .ok_or_else(|| failure("unknown room"))?;
        leave_socket_room(&c, &deleted.sockets, at.key);
        let action = ActionHead::new(scope(&c, at.key), "private_room_deleted");
        emit_to_sockets(&c, &deleted.sockets, "private_room_deleted", &action);
        let main = RoomKey::main(at.key.room_id);
        let notice = Notice::new(
            scope(&c, main),
            "private_room_closed",
            Some(json!({"title": deleted.title})),
        );
        emit_to_room(&c, main, "notice", &notice).await;
        Ok(at.success())
    })
    .await
}

async fn invite(
    Extension(c): Ext,
    Path((_, room, host, invitee)): Path<(String, String, String, String)>,
) -> Reply {
    invite_user(&c, &room, None, &host, &invitee).await
}

async fn invite_8(
    Extension(c): Ext,
    Path((_, room, sub, host, invitee)): Path<(String, String, String, String, String)>,
) -> Reply {
    invite_user(&c, &room, Some(&sub), &host, &invitee).await
}

/// `InvitePrivateRoom`: the invitee may enter; both sides' browsers are told.
async fn invite_user(
    client: &Client,
    room: &str,
    sub: Option<&str>,
    host: &str,
    invitee: &str,
) -> Reply {
    on_room(client, room, sub, async |at| {
        let (host, invitee) = (parse_id(host, "host id")?, parse_id(invitee, "invitee id")?);
        let invited = client
            .rooms()
            .invite(at.key, host, invitee)
            .map_err(|e| failure(e.to_string()))?;
        let Some((host_name, host_sockets)) = invited.host else {
            return Ok(at.success());
        };
        let here = scope(client, at.key);
        emit_to_sockets(
            client,
            &host_sockets,
            "notice",
            &Notice::new(here, "user_invited", None),
        );
        let action = InviteAction {
            head: ActionHead::new(here, "user_invited"),
            title: invited.room_title.clone(),
            owner: invited.room_owner,
        };
        emit_to_sockets(client, &invited.invitee_sockets, "user_invited", &action);
        // ILIAS 8 addresses this notice to "the current room" (-1).
        let self_scope = Scope {
            sub_room_id: here.sub_room_id.map(|_| -1),
            ..here
        };
        let data = json!({"user": host_name, "room": invited.room_title});
        let notice = Notice::new(self_scope, "user_invited_self", Some(data));
        emit_to_sockets(client, &invited.invitee_sockets, "notice", &notice);
        Ok(at.success())
    })
    .await
}

async fn clear(Extension(c): Ext, Path((_, room, actor)): Path<(String, String, String)>) -> Reply {
    clear_room(&c, &room, None, &actor).await
}

async fn clear_8(
    Extension(c): Ext,
    Path((_, room, sub, actor)): Path<(String, String, String, String)>,
) -> Reply {
    clear_room(&c, &room, Some(&sub), &actor).await
}

/// `ClearMessages`: PHP already deleted the history; the browsers empty their panes.
async fn clear_room(client: &Client, room: &str, sub: Option<&str>, actor: &str) -> Reply {
    on_room(client, room, sub, async |at| {
        parse_id(actor, "actor id")?;
        let here = scope(client, at.key);
        let clear = ActionHead::with_content(here, "clear", "history_has_been_cleared");
        emit_to_room(client, at.key, "clear", &clear).await;
        let notice = Notice::new(here, "history_has_been_cleared", None);
        emit_to_room(client, at.key, "notice", &notice).await;
        Ok(at.success())
    })
    .await
}

async fn kick(Extension(c): Ext, Path((_, room, user)): Path<(String, String, String)>) -> Reply {
    kick_user(&c, &room, None, &user).await
}

async fn kick_8(
    Extension(c): Ext,
    Path((_, room, sub, user)): Path<(String, String, String, String)>,
) -> Reply {
    kick_user(&c, &room, Some(&sub), &user).await
}

/// `Kick`: the user leaves the room and may not speak there until PHP lets them in.
async fn kick_user(client: &Client, room: &str, sub: Option<&str>, user: &str) -> Reply {
    on_room(client, room, sub, async |at| {
        let user = parse_id(user, "user id")?;
        let kicked = client
            .rooms()
            .kick(at.key, user)
            .map_err(|e| failure(e.to_string()))?;
        let Some(kicked) = kicked else {
            return Ok(at.success());
        };
        tracing::info!(client = client.name(), user, room = %at.key.socket_room(), "user kicked");
        let here = scope(client, at.key);
        emit_to_sockets(
            client,
            &kicked.sockets,
            "userjustkicked",
            &ActionHead::new(here, "userjustkicked"),
        );
        // The original addresses this notice to the main room, where ILIAS 8 sends the
        // kicked user back to.
        let main = scope(client, RoomKey::main(at.key.room_id));
        let data = json!({"title": kicked.room_title});
        emit_to_sockets(
            client,
            &kicked.sockets,
            "notice",
            &Notice::new(main, "kicked_from_private_room", Some(data)),
        );
        leave_socket_room(client, &kicked.sockets, at.key);
        if at.key.sub_room > 0 {
            send_userlist(client, &kicked.sockets, RoomKey::main(at.key.room_id));
        }
        announce_removal(client, at.key, &kicked.username).await;
        Ok(at.success())
    })
    .await
}

/// Tells a room that a user was removed (kick or ban): new user list and a notice.
async fn announce_removal(client: &Client, key: RoomKey, username: &str) {
    broadcast_userlist(client, key).await;
    let notice = Notice::new(
        scope(client, key),
        "user_kicked",
        Some(json!({"user": username})),
    );
    emit_to_room(client, key, "notice", &notice).await;
}

async fn ban(Extension(c): Ext, Path((_, room, user)): Path<(String, String, String)>) -> Reply {
    ban_user(&c, &room, None, &user).await
}

async fn ban_8(
    Extension(c): Ext,
    Path((_, room, sub, user)): Path<(String, String, String, String)>,
) -> Reply {
    ban_user(&c, &room, Some(&sub), &user).await
}

/// `Ban`: the user leaves the chat room and all its private rooms and is forgotten
/// until PHP connects them again (PHP refuses banned users).
async fn ban_user(client: &Client, room: &str, sub: Option<&str>, user: &str) -> Reply {
    let addressed = match Addressed::parse(room, sub) {
        Ok(addressed) => addressed,
        Err(reply) => return reply,
    };
    let user: UserId = match parse_id(user, "user id") {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    if !ensure_room(client, RoomKey::main(addressed.key.room_id)).await {
        return failure(RegisterError::UnknownRoom.to_string());
    }
    client.cancel_grace_timer(user);
    // An unknown user (not online) is no error: PHP records the ban only after a
    // successful answer, and offline users must be bannable too.
    let Some(banned) = client.rooms().ban(addressed.key.room_id, user) else {
        return addressed.success();
    };
    tracing::info!(
        client = client.name(),
        user,
        room = addressed.key.room_id,
        "user banned"
    );
    if !banned.rooms.is_empty() {
        emit_to_sockets(client, &banned.sockets, "userjustbanned", &[(); 0]);
    }
    for key in &banned.rooms {
        leave_socket_room(client, &banned.sockets, *key);
        announce_removal(client, *key, &banned.username).await;
    }
    addressed.success()
}

/// `GetRooms/<name>`: the room ids the server knows (a debugging aid).
async fn get_rooms(Extension(client): Ext) -> Reply {
    let rooms: BTreeMap<String, Value> = client
        .rooms()
        .room_keys()
        .into_iter()
        .map(|key| (key.socket_room(), json!({})))
        .collect();
    Json(json!({"rooms": rooms}))
}

/// `Post`: the ILIAS ≤ 7 way of sending a message; accepted and ignored like the
/// original does.
async fn post(Extension(client): Ext) -> Reply {
    tracing::trace!(client = client.name(), "Not Supported Action Post");
    Json(json!({"success": true}))
}
