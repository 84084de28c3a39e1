//! `ClearMessages`: PHP already deleted the history; the browsers empty their panes.

use axum::extract::Extension;

use super::backend::{Chat, Reply, RoomRequest, answer};
use super::emit;
use super::payload::{ActionHead, Notice};

pub(super) async fn clear(Extension(chat): Chat, request: RoomRequest) -> Reply {
    answer(
        async {
            request.existing_room(&chat).await?;
            request.id("actor", "actor id")?;
            let here = emit::scope(&chat, request.key);
            let clear = ActionHead::with_content(here, "clear", "history_has_been_cleared");
            emit::to_room(&chat, request.key, "clear", &clear).await;
            let notice = Notice::new(here, "history_has_been_cleared", None);
            emit::to_room(&chat, request.key, "notice", &notice).await;
            Ok(request.success())
        }
        .await,
    )
}
