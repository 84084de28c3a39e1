//! `login(userId, name)` and `conversations()`: a participant's socket comes online
//! and gets the conversations they belong to.

use socketioxide::extract::SocketRef;

use super::model::StoredMessage;
use super::payload::ConversationJson;
use super::persist::settled_store;
use super::{OnScreenChat, emit};
use crate::identity::check_login;
use crate::ids::UserId;
use crate::metrics::{self, Feature};
use crate::socket::Refused;
use crate::store::{Store, osc};

/// How long an event waits for the conversations to be loaded at start-up.
pub(super) const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn login(
    chat: &OnScreenChat,
    socket: &SocketRef,
    user: UserId,
    name: Option<String>,
) -> Result<(), Refused> {
    check_login(socket, user).map_err(Refused::because)?;
    let me = chat.im().login(socket.id, user, name);
    tracing::info!(
        client = chat.name(),
        user,
        "on-screen chat participant logged in"
    );
    match socket.emit("login", &me) {
        Ok(()) => metrics::delivered(chat.name(), Feature::Im, "login", 1),
        Err(error) => tracing::debug!(%error, "emit login failed"),
    }
    list_conversations(chat, user).await;
    Ok(())
}

pub(super) async fn conversations(chat: &OnScreenChat, socket: &SocketRef) -> Result<(), Refused> {
    let user = chat
        .im()
        .user_of_socket(socket.id)
        .map_err(Refused::because)?;
    list_conversations(chat, user).await;
    Ok(())
}

/// Sends a user the conversations they belong to (`conversation` to all their sockets,
/// as the original's `conversations` does): each with its latest message and the
/// user's unread count, unless the user closed it (a closed 1:1 conversation with
/// unread messages is sent all the same).
async fn list_conversations(chat: &OnScreenChat, user: UserId) {
    if !chat.wait_ready(READY_WAIT).await {
        tracing::warn!(
            client = chat.name(),
            "conversations are not loaded yet; listing what is known"
        );
    }
    let ids: Vec<String> = chat.im().conversations_of(user);
    let store = settled_store(chat).await;
    for id in ids {
        let (closed, latest, unread) = match &store {
            Some(store) => read_state(chat, store, id.as_str(), user).await,
            None => (false, None, 0),
        };
        let view = {
            let mut im = chat.im();
            if let Some(latest) = latest {
                im.set_latest_message(&id, Some(latest));
            }
            im.view(&id)
        };
        let Some(view) = view else { continue };
        if !closed || (unread > 0 && !view.is_group) {
            let sockets = chat.im().sockets_of(user);
            let json = ConversationJson::of(&view, unread);
            emit::to_sockets(chat, &sockets, "conversation", &json);
        }
    }
}

/// Closed flag, latest message and unread count of a conversation for a user; a read
/// that fails is logged and counts as "nothing found".
async fn read_state(
    chat: &OnScreenChat,
    store: &Store,
    conversation: &str,
    user: UserId,
) -> (bool, Option<StoredMessage>, i64) {
    let closed = osc::is_closed(store, conversation, user)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = chat.name(), %error, "cannot read a conversation state");
            false
        });
    let latest = osc::latest_message(store, conversation)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = chat.name(), %error, "cannot read a latest message");
            None
        });
    let unread = osc::unread_count(store, conversation, user)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = chat.name(), %error, "cannot count unread messages");
            0
        });
    (closed, latest, unread)
}
