//! `InvitePrivateRoom`: PHP lets an invitee into a room; both sides' browsers are told.

use axum::extract::Extension;
use serde_json::json;

use super::backend::{Chat, Reply, RoomRequest, answer, failure};
use super::emit;
use super::payload::{ActionHead, InviteAction, Notice, Scope};

pub(super) async fn invite(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            let host = request.id("host", "host id")?;
            let invitee = request.id("invitee", "invitee id")?;
            let invited = chat
                .rooms()
                .invite(request.key, host, invitee)
                .map_err(|e| failure(e.to_string()))?;
            let Some((host_name, host_sockets)) = invited.host else {
                return Ok(request.success());
            };
            let here = emit::scope(&chat, request.key);
            let notice = Notice::new(here, "user_invited", None);
            emit::to_sockets(&chat, &host_sockets, "notice", &notice);
            let action = InviteAction {
                head: ActionHead::new(here, "user_invited"),
                title: invited.room_title.clone(),
                owner: invited.room_owner,
            };
            emit::to_sockets(&chat, &invited.invitee_sockets, "user_invited", &action);
            // ILIAS 8 addresses this notice to "the current room" (-1).
            let self_scope = Scope {
                sub_room_id: here.sub_room_id.map(|_| -1),
                ..here
            };
            let data = json!({"user": host_name, "room": invited.room_title});
            let notice = Notice::new(self_scope, "user_invited_self", Some(data));
            emit::to_sockets(&chat, &invited.invitee_sockets, "notice", &notice);
            Ok(request.success())
        }
        .await,
    )
}
