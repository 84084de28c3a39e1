//! On-screen chat: the socket.io namespace `/<name>-im` (1:1 and group conversations)
//! and PHP's `UserConfigChange` route. State lives in [`ImState`] inside the
//! [`Client`]; this module turns events into state changes, emits what the browsers
//! expect and queues what ILIAS keeps in its database.
//!
//! Reads after writes: writes are queued (delivery never waits for the database), so a
//! read could miss a write queued just before it. Every read of `osc_*` tables (latest
//! message, unread count, closed state, history) therefore first flushes the client's
//! write queue (bounded wait), which makes it see everything this server wrote before;
//! the latest message of a conversation is also kept in memory as it is sent.

pub mod backend;
pub mod model;
pub mod payload;
mod socket;
pub mod store;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use socketioxide::socket::Sid;

use crate::client::Client;
use crate::store::{Store, StoreError};

pub use model::ImState;
pub use socket::attach;

use model::{UserId, parse_participants};
use payload::ConversationJson;

/// How long an event waits for the conversations to be loaded at start-up.
const READY_WAIT: Duration = Duration::from_secs(10);

/// How long a read waits for the queued writes before it.
const READ_FLUSH: Duration = Duration::from_secs(5);

/// Sends one event to the given sockets of the on-screen chat namespace.
fn emit_to_sockets<T: Serialize + ?Sized>(client: &Client, sids: &[Sid], event: &str, payload: &T) {
    for sid in sids {
        if let Some(socket) = client.im_socket(*sid)
            && let Err(error) = socket.emit(event, payload)
        {
            tracing::debug!(client = client.name(), event, %error, "emit failed");
        }
    }
}

/// A fresh conversation or message id (UUID v4, as the original).
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The database, with every write queued so far applied (see the module docs). `None`
/// while the database is not connected: reads then find nothing.
async fn settled_store(client: &Client) -> Option<Store> {
    let store = client.store()?.clone();
    if !client.writes().flush(READ_FLUSH).await {
        tracing::debug!(
            client = client.name(),
            "database writes still pending; reading anyway"
        );
    }
    Some(store)
}

/// Sends a user the conversations they belong to (`conversation` to all their sockets,
/// as the original's `conversations` does): each with its latest message and the
/// user's unread count, unless the user closed it (a closed 1:1 conversation with
/// unread messages is sent all the same).
async fn list_conversations(client: &Client, user: UserId) {
    if !client.im_ready(READY_WAIT).await {
        tracing::warn!(
            client = client.name(),
            "conversations are not loaded yet; listing what is known"
        );
    }
    let ids: Vec<String> = client.im().conversations_of(user);
    let store = settled_store(client).await;
    for id in ids {
        let (closed, latest, unread) = match &store {
            Some(store) => read_state(client, store, id.as_str(), user).await,
            None => (false, None, 0),
        };
        let view = {
            let mut im = client.im();
            if let Some(latest) = latest {
                im.set_latest_message(&id, Some(latest));
            }
            im.view(&id)
        };
        let Some(view) = view else { continue };
        if !closed || (unread > 0 && !view.is_group) {
            let sockets = client.im().sockets_of(user);
            emit_to_sockets(
                client,
                &sockets,
                "conversation",
                &ConversationJson::of(&view, unread),
            );
        }
    }
}

/// Closed flag, latest message and unread count of a conversation for a user; a read
/// that fails is logged and counts as "nothing found".
async fn read_state(
    client: &Client,
    store: &Store,
    conversation: &str,
    user: UserId,
) -> (bool, Option<model::StoredMessage>, i64) {
    let closed = store::is_closed(store, conversation, user)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = client.name(), %error, "cannot read a conversation state");
            false
        });
    let latest = store::latest_message(store, conversation)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = client.name(), %error, "cannot read a latest message");
            None
        });
    let unread = store::unread_count(store, conversation, user)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = client.name(), %error, "cannot count unread messages");
            0
        });
    (closed, latest, unread)
}

/// Start-up once the database is connected: loads every conversation (a row whose
/// participants cannot be read is logged and skipped) and the users' message
/// settings. Returns the number of conversations loaded.
pub async fn start(client: &Client) -> Result<usize, StoreError> {
    let Some(store) = client.store() else {
        return Ok(0);
    };
    let rows = store::load_conversations(store).await?;
    let mut loaded = 0;
    {
        let mut im = client.im();
        for row in &rows {
            match parse_participants(row.participants.as_deref()) {
                Ok(participants) => {
                    if im.add_conversation(&row.id, row.is_group, &participants) {
                        loaded += 1;
                    }
                }
                Err(error) => tracing::warn!(
                    client = client.name(),
                    conversation = %row.id,
                    %error,
                    "conversation skipped: its participants cannot be read"
                ),
            }
        }
    }
    if let Err(error) = refresh_settings(client).await {
        tracing::warn!(client = client.name(), %error, "cannot read message settings");
    }
    Ok(loaded)
}

/// The settings refresh (start-up and every 20 minutes): every known participant
/// accepts messages when `usr_pref` says `chat_osc_accept_msg` = `y`; on ILIAS 11+ also
/// when the user has no such row and the administrator's default is `y`.
pub async fn refresh_settings(client: &Client) -> Result<(), StoreError> {
    let Some(store) = client.store() else {
        return Ok(());
    };
    let settings = accept_settings(client, store).await?;
    let count = client.im().refresh_accepting_with(&settings);
    tracing::info!(
        client = client.name(),
        accepting = count,
        "on-screen chat message settings refreshed"
    );
    Ok(())
}

/// Reads the accept-messages preferences by the client's release rule. On ILIAS 11+
/// an unreadable default counts as "no" (the stricter reading), with a warning.
async fn accept_settings(
    client: &Client,
    store: &crate::store::Store,
) -> Result<model::AcceptSettings, StoreError> {
    let accepting = store::accepting_users(store).await?;
    if !client.generation().missing_accept_row_means_default() {
        return Ok(model::AcceptSettings {
            accepting,
            ..Default::default()
        });
    }
    let default_accepts = store::accepts_by_default(store)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = client.name(), %error, "cannot read the default of chat_osc_accept_msg; users without a preference do not accept messages");
            false
        });
    let declining = if default_accepts {
        store::declining_users(store).await?
    } else {
        HashSet::new()
    };
    tracing::debug!(
        client = client.name(),
        default_accepts,
        "users without a chat_osc_accept_msg preference follow the default"
    );
    Ok(model::AcceptSettings {
        accepting,
        declining,
        default_accepts,
    })
}

/// Makes a client usable by the on-screen chat events (also after a failed load, so
/// nothing waits for it any longer).
pub fn ready(client: &Arc<Client>) {
    client.set_im_ready();
}
