//! The backend route PHP calls for the on-screen chat.

use axum::Router;
use axum::routing::get;

use super::settings;

/// The on-screen chat routes (paths are lower-case: the backend router folds action
/// names).
pub fn routes() -> Router {
    Router::new().route(
        "/backend/userconfigchange/{name}",
        get(settings::user_config_change),
    )
}
