//! The `/backend` API ILIAS PHP calls. Action names are matched case-insensitively
//! and one trailing slash is tolerated, like Express; every route but `Heartbeat` needs
//! the client's Basic credentials. Failed authentication is answered with HTTP 200 and
//! `{"status":403,…}` because ILIAS PHP treats any non-2xx answer as "server down".

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, Uri, header};
use serde_json::json;

use super::auth::is_authorized;
use crate::config::Auth;
use crate::metrics;

/// What the backend needs of the ILIAS clients it serves. The features' routes are
/// handed in by the server, so this transport layer knows no feature.
pub trait BackendClients: Send + Sync + 'static {
    /// The credentials of the named client and what its routes extract from the
    /// request (its feature state), or `None` for an unknown client.
    fn lookup(&self, name: &str) -> Option<(Auth, http::Extensions)>;

    /// Whether a client has this name (for the metrics' `client` label), without
    /// building what [`BackendClients::lookup`] hands to routes.
    fn knows(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }
}

/// The answer to Heartbeat, byte for byte what ILIAS PHP expects.
pub const HEARTBEAT_BODY: &str = r#"{"status":200}"#;

/// The backend router: the features' routes behind the authentication layer, and
/// Heartbeat without it. Heartbeat, which monitoring and ILIAS PHP call most, is added
/// after the counting layer and counts itself: a middleware per call costs more than
/// answering it.
pub fn router(clients: Arc<dyn BackendClients>, features: Router) -> Router {
    let authenticated = features
        .route_layer(middleware::from_fn_with_state(
            clients.clone(),
            require_auth,
        ))
        .route_layer(middleware::map_response(json_rejections));
    Router::new()
        .merge(authenticated)
        .route_layer(middleware::from_fn_with_state(
            clients.clone(),
            count_request,
        ))
        .route(
            "/backend/heartbeat/{name}",
            get(heartbeat).with_state(clients),
        )
}

/// The `client` label of a request's metrics: the name when it is a client, else
/// `unknown`, so that nobody can add series at will.
fn client_label<'a>(clients: &dyn BackendClients, name: &'a str) -> &'a str {
    if clients.knows(name) { name } else { "unknown" }
}

/// Marks the answer to refused credentials, which is HTTP 200 for PHP's sake.
#[derive(Debug, Clone, Copy)]
struct Denied;

/// Counts every request that matched a backend route, by client, action and the status
/// PHP reads. Only matched routes get here, so the action is one of a known few; a name
/// that is no client is counted as `unknown`, so that nobody can add series at will.
async fn count_request(
    State(clients): State<Arc<dyn BackendClients>>,
    request: Request,
    next: Next,
) -> Response {
    let mut segments = request.uri().path().split('/').skip(2);
    let action = segments.next().unwrap_or("").to_string();
    let client = client_label(&*clients, segments.next().unwrap_or("")).to_string();
    let response = next.run(request).await;
    let status = if response.extensions().get::<Denied>().is_some() {
        403
    } else {
        response.status().as_u16()
    };
    metrics::backend_request(&client, &action, status);
    response
}

/// Turns the plain-text answers of axum's extractors (a path segment that is not
/// UTF-8, say) into the JSON failure PHP can forward; PHP never sees a non-JSON body.
async fn json_rejections(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !response.status().is_client_error() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let reason = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    tracing::warn!(
        status = parts.status.as_u16(),
        reason,
        "malformed backend request"
    );
    Json(json!({"success": false, "reason": reason})).into_response()
}

/// The answer to a path no route matches (under `/backend` or anywhere else).
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"status": 404, "message": "Not found"})),
    )
        .into_response()
}

/// `Heartbeat/<name>`: answered for any name, without authentication (the ILIAS
/// documentation tells administrators to check the server with curl). Counted like
/// every backend call; the body is a constant.
async fn heartbeat(State(clients): State<Arc<dyn BackendClients>>, uri: Uri) -> Response {
    let name = uri.path().split('/').nth(3).unwrap_or("");
    metrics::backend_request(client_label(&*clients, name), "heartbeat", 200);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        HEARTBEAT_BODY,
    )
        .into_response()
}

fn access_denied() -> Response {
    let mut response = Json(json!({"status": 403, "message": "Access denied"})).into_response();
    response.extensions_mut().insert(Denied);
    response
}

/// Looks up the client named in the path, checks the credentials and hands the
/// client's feature state to the route as extensions.
async fn require_auth(
    State(clients): State<Arc<dyn BackendClients>>,
    mut request: Request,
    next: Next,
) -> Response {
    let name = request.uri().path().split('/').nth(3).unwrap_or("");
    let Some((auth, extensions)) = clients.lookup(name) else {
        tracing::warn!(client = name, "access denied: unknown client");
        return access_denied();
    };
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if header.is_none() {
        tracing::warn!(client = name, "access denied: missing authorization header");
        return access_denied();
    }
    if !is_authorized(header, &auth) {
        tracing::warn!(client = name, "access denied: wrong credentials");
        return access_denied();
    }
    tracing::debug!(client = name, "access granted");
    request.extensions_mut().extend(extensions);
    next.run(request).await
}

/// Rewrites `/backend/<Action>/…[/]` to the lower-case action without the trailing
/// slash, so the router's case-sensitive, exact patterns behave like Express's.
pub fn normalize(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut normalized = String::with_capacity(path.len());
    for (index, segment) in path.split('/').enumerate() {
        if index > 0 {
            normalized.push('/');
        }
        if index == 2 {
            normalized.push_str(&segment.to_ascii_lowercase());
        } else {
            normalized.push_str(segment);
        }
    }
    if normalized.len() > "/backend/".len() && normalized.ends_with('/') {
        normalized.pop();
    }
    if normalized == path {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{normalized}?{query}"),
        None => normalized,
    };
    path_and_query.parse::<Uri>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_action_and_one_trailing_slash() {
        let uri: Uri = "/backend/HeartBeat/Onscreen/?x=1".parse().expect("uri");
        assert_eq!(
            normalize(&uri).map(|u| u.to_string()),
            Some("/backend/heartbeat/Onscreen?x=1".to_string())
        );
        let same: Uri = "/backend/connect/a/1/2".parse().expect("uri");
        assert_eq!(normalize(&same), None);
    }
}
