//! The users' "accept messages" setting (`chat_osc_accept_msg` in `usr_pref`): the
//! backend route `UserConfigChange` PHP calls when users save it, and the refresh from
//! the database at start-up and every 20 minutes. Answers are JSON with HTTP 200, also
//! for malformed input (never a 500, unlike the original).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query};
use serde_json::{Value, json};

use super::OnScreenChat;
use super::model::AcceptSettings;
use crate::ids::UserId;
use crate::socket::args::{id_value, truthy};
use crate::store::{Store, StoreError, osc};

/// Why a `UserConfigChange` message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigChangeError {
    #[error("the query parameter 'message' is missing")]
    Missing,
    #[error("'message' is not JSON: {0}")]
    NotJson(String),
    #[error("'message' must be a JSON object keyed by user id")]
    NotObject,
    #[error("'{0}' is not a user id")]
    BadUser(String),
    #[error("the settings of user {0} are not an object")]
    BadSettings(UserId),
}

/// Reads `{"<usrId>":{"acceptsMessages":bool},…}`. As in the original, a user accepts
/// messages when `acceptsMessages` is present and truthy. Nothing is applied unless the
/// whole message is valid.
pub fn parse_config_change(
    message: Option<&str>,
) -> Result<Vec<(UserId, bool)>, ConfigChangeError> {
    let text = message.ok_or(ConfigChangeError::Missing)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| ConfigChangeError::NotJson(e.to_string()))?;
    let Value::Object(users) = value else {
        return Err(ConfigChangeError::NotObject);
    };
    users
        .iter()
        .map(|(key, settings)| {
            let user = id_value(&Value::String(key.clone()), 0, "user id")
                .map_err(|_| ConfigChangeError::BadUser(key.chars().take(40).collect()))?;
            let Value::Object(settings) = settings else {
                return Err(ConfigChangeError::BadSettings(user));
            };
            Ok((user, settings.get("acceptsMessages").is_some_and(truthy)))
        })
        .collect()
}

/// `UserConfigChange/<name>?message=<json>`.
pub(super) async fn user_config_change(
    Extension(chat): Extension<Arc<OnScreenChat>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Json<Value> {
    let message = match &query {
        Ok(Query(params)) => params.get("message").map(String::as_str),
        Err(_) => None,
    };
    let changes = match parse_config_change(message) {
        Ok(changes) => changes,
        Err(error) => {
            tracing::warn!(client = chat.name(), %error, "UserConfigChange refused");
            return Json(json!({"success": false, "reason": error.to_string()}));
        }
    };
    {
        let mut im = chat.im();
        for (user, accepts) in &changes {
            im.set_accepts_messages(*user, *accepts);
        }
    }
    for (user, accepts) in changes {
        tracing::info!(
            client = chat.name(),
            user,
            accepts,
            "on-screen chat message setting changed"
        );
    }
    Json(json!({"status": 200}))
}

/// The settings refresh (start-up and every 20 minutes): every known participant
/// accepts messages when `usr_pref` says `chat_osc_accept_msg` = `y`; on ILIAS 11+ also
/// when the user has no such row and the administrator's default is `y`.
pub async fn refresh_settings(chat: &OnScreenChat) -> Result<(), StoreError> {
    let Some(store) = chat.client.store() else {
        return Ok(());
    };
    let settings = accept_settings(chat, store).await?;
    let count = chat.im().refresh_accepting_with(&settings);
    tracing::info!(
        client = chat.name(),
        accepting = count,
        "on-screen chat message settings refreshed"
    );
    Ok(())
}

/// Reads the accept-messages preferences by the client's release rule. On ILIAS 11+
/// an unreadable default counts as "no" (the stricter reading), with a warning.
async fn accept_settings(chat: &OnScreenChat, store: &Store) -> Result<AcceptSettings, StoreError> {
    let accepting = osc::accepting_users(store).await?;
    if !chat.client.generation().missing_accept_row_means_default() {
        return Ok(AcceptSettings {
            accepting,
            ..Default::default()
        });
    }
    let default_accepts = osc::accepts_by_default(store)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(client = chat.name(), %error, "cannot read the default of chat_osc_accept_msg; users without a preference do not accept messages");
            false
        });
    let declining = if default_accepts {
        osc::declining_users(store).await?
    } else {
        HashSet::new()
    };
    tracing::debug!(
        client = chat.name(),
        default_accepts,
        "users without a chat_osc_accept_msg preference follow the default"
    );
    Ok(AcceptSettings {
        accepting,
        declining,
        default_accepts,
    })
}
