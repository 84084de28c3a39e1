//! What the on-screen chat reads from ILIAS's database, and when: the conversations
//! at start-up, and reads that must see every write queued before them.

use std::time::Duration;

use super::OnScreenChat;
use super::model::parse_participants;
use crate::store::{Store, StoreError, osc};

/// How long a read waits for the queued writes before it.
const READ_FLUSH: Duration = Duration::from_secs(5);

/// The database, with every write queued so far applied (see the module docs of
/// [`crate::im`]). `None` while the database is not connected: reads then find nothing.
pub(super) async fn settled_store(chat: &OnScreenChat) -> Option<Store> {
    let store = chat.client.store()?.clone();
    if !chat.client.writes().flush(READ_FLUSH).await {
        tracing::debug!(
            client = chat.name(),
            "database writes still pending; reading anyway"
        );
    }
    Some(store)
}

/// Start-up once the database is connected: loads every conversation (a row whose
/// participants cannot be read is logged and skipped) and the users' message
/// settings. Returns the number of conversations loaded.
pub async fn start(chat: &OnScreenChat) -> Result<usize, StoreError> {
    let Some(store) = chat.client.store() else {
        return Ok(0);
    };
    let rows = osc::load_conversations(store).await?;
    let mut loaded = 0;
    {
        let mut im = chat.im();
        for row in &rows {
            match parse_participants(row.participants.as_deref()) {
                Ok(participants) => {
                    if im.add_conversation(&row.id, row.is_group, &participants) {
                        loaded += 1;
                    }
                }
                Err(error) => tracing::warn!(
                    client = chat.name(),
                    conversation = %row.id,
                    %error,
                    "conversation skipped: its participants cannot be read"
                ),
            }
        }
    }
    if let Err(error) = super::refresh_settings(chat).await {
        tracing::warn!(client = chat.name(), %error, "cannot read message settings");
    }
    Ok(loaded)
}
