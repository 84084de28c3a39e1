//! Conversations: `conversation(participants)` opens (or creates) one, `addUser` turns
//! it into (or extends) a group, `removeUser` lets a user leave a group.

use socketioxide::extract::SocketRef;

use super::events::MemberChange;
use super::login::READY_WAIT;
use super::payload::ConversationJson;
use super::persist::settled_store;
use super::{OnScreenChat, emit};
use crate::ids::{UserId, new_uuid};
use crate::socket::Refused;
use crate::store::{Write, osc};

/// `conversation(participants)`: the requester's sockets get `conversation-init`.
pub(super) async fn open(
    chat: &OnScreenChat,
    socket: &SocketRef,
    requested: &[(UserId, Option<String>)],
) -> Result<(), Refused> {
    let requester = chat
        .im()
        .user_of_socket(socket.id)
        .map_err(Refused::because)?;
    chat.wait_ready(READY_WAIT).await;
    let started = chat
        .im()
        .start_conversation(requester, requested, new_uuid())
        .map_err(Refused::because)?;
    let id = started.view.id.clone();
    if started.created {
        tracing::info!(client = chat.name(), conversation = %id, "conversation created");
        chat.client.write(Write::ConversationInsert {
            id: id.clone(),
            is_group: started.view.is_group,
            participants: started.participants_json.clone(),
        });
    } else if started.changed {
        chat.client.write(Write::ConversationUpdate {
            id: id.clone(),
            is_group: started.view.is_group,
            participants: started.participants_json.clone(),
        });
    }
    let mut view = started.view;
    // An existing conversation opens with its newest message, as in the original.
    if !started.created
        && let Some(store) = settled_store(chat).await
    {
        match osc::latest_message(&store, &id).await {
            Ok(Some(latest)) => {
                let mut im = chat.im();
                im.set_latest_message(&id, Some(latest));
                if let Some(fresh) = im.view(&id) {
                    view = fresh;
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(client = chat.name(), %error, "cannot read a latest message")
            }
        }
    }
    let sockets = chat.im().sockets_of(requester);
    let json = ConversationJson::of(&view, 0);
    emit::to_sockets(chat, &sockets, "conversation-init", &json);
    Ok(())
}

/// `addUser(conversationId, userId, name)`: a 1:1 conversation becomes a new group
/// conversation; a group gets one more participant.
pub(super) async fn add_user(
    chat: &OnScreenChat,
    socket: &SocketRef,
    change: MemberChange,
) -> Result<(), Refused> {
    let MemberChange {
        conversation,
        user,
        name,
    } = change;
    let requester = chat
        .im()
        .user_of_socket(socket.id)
        .map_err(Refused::because)?;
    chat.wait_ready(READY_WAIT).await;
    let added = chat
        .im()
        .add_user(requester, &conversation, user, &name, new_uuid())
        .map_err(Refused::because)?;
    let view = added.view;
    let write = if added.created {
        tracing::info!(client = chat.name(), from = %conversation, conversation = %view.id, "conversation turned into a group conversation");
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
    chat.client.write(write);
    for participant in &view.participants {
        chat.client.write(Write::Activity {
            conversation_id: view.id.clone(),
            user_id: participant.id,
            timestamp_ms: 0,
        });
    }
    tracing::info!(client = chat.name(), user, conversation = %view.id, "participant added");
    let json = ConversationJson::of(&view, 0);
    let sockets = chat.im().sockets_of(requester);
    emit::to_sockets(chat, &sockets, "conversation", &json);
    emit::to_sockets(chat, &[socket.id], "addUser", &json);
    Ok(())
}

/// `removeUser(conversationId, userId, name)`: browsers only ever remove their own
/// user (leaving a group).
pub(super) fn remove_user(
    chat: &OnScreenChat,
    socket: &SocketRef,
    change: MemberChange,
) -> Result<(), Refused> {
    let MemberChange {
        conversation, user, ..
    } = change;
    chat.im()
        .acting_as(socket.id, user)
        .map_err(Refused::because)?;
    let left = chat
        .im()
        .remove_user(&conversation, user)
        .map_err(Refused::because)?;
    chat.client.write(Write::ConversationUpdate {
        id: conversation.clone(),
        is_group: left.view.is_group,
        participants: left.participants_json,
    });
    tracing::info!(client = chat.name(), user, %conversation, "participant left the conversation");
    let json = ConversationJson::of(&left.view, 0);
    emit::to_sockets(chat, &left.leaver_sockets, "removeUser", &json);
    emit::to_sockets(chat, &left.remaining_sockets, "conversation", &json);
    Ok(())
}
