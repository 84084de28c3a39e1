//! The socket.io handshake of a client's namespaces: with verified identity on
//! (`verify_session` in client.cfg), the ILIAS session cookie is looked up before the
//! browser learns it is connected, and the socket is bound to the session's user or
//! refused (see [`crate::identity`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use socketioxide::extract::SocketRef;

use crate::client::Client;
use crate::config::VerifySession;
use crate::identity::cookie::HandshakeCookies;
use crate::identity::{Identity, Lookup, QUERY_TIMEOUT, Refused, Unverified};
use crate::ids::UserId;

/// The future of one [`gate`] call.
pub type GateFuture = Pin<Box<dyn Future<Output = Result<(), Refused>> + Send>>;

/// The connect middleware of a client's namespaces: verifies the handshake as the
/// client's `verify_session` says (nothing when off).
pub fn gate(client: Arc<Client>) -> impl Fn(SocketRef) -> GateFuture + Clone + Send + Sync {
    move |socket: SocketRef| {
        let client = client.clone();
        Box::pin(async move { admit(&client, &socket).await })
    }
}

/// Verifies one handshake and binds the socket; `Err` refuses the connection.
pub async fn admit(client: &Client, socket: &SocketRef) -> Result<(), Refused> {
    let config = &client.config.identity;
    if config.verify_session == VerifySession::Off {
        return Ok(());
    }
    let cookies =
        HandshakeCookies::from_headers(&socket.req_parts().headers, &config.session_cookie);
    match verify(client, &cookies).await {
        Ok(user) => {
            socket.extensions.insert(Identity::Verified(user));
            tracing::debug!(
                client = client.name(),
                namespace = socket.ns(),
                sid = %socket.id,
                user,
                "socket bound to the user of its ILIAS session"
            );
            Ok(())
        }
        Err(why) if config.verify_session == VerifySession::Lenient => {
            socket.extensions.insert(Identity::Unverified);
            tracing::info!(
                client = client.name(),
                namespace = socket.ns(),
                sid = %socket.id,
                "socket accepted unverified (verify_session lenient): {why}"
            );
            Ok(())
        }
        Err(why) => {
            tracing::warn!(
                client = client.name(),
                namespace = socket.ns(),
                sid = %socket.id,
                "connection refused (verify_session strict): {why}"
            );
            Err(Refused)
        }
    }
}

async fn verify(client: &Client, cookies: &HandshakeCookies) -> Result<UserId, Unverified> {
    let cookie = &client.config.identity.session_cookie;
    if cookies.client_matches(client.name()) == Some(false) {
        return Err(Unverified::OtherClient);
    }
    if cookies.session_ids.is_empty() {
        return Err(match cookies.malformed {
            0 => Unverified::NoCookie(cookie.clone()),
            _ => Unverified::Malformed(cookie.clone()),
        });
    }
    let store = connected_store(client).await;
    let mut users: Vec<UserId> = Vec::new();
    let mut unavailable = false;
    for id in &cookies.session_ids {
        match client.identity().lookup(store.as_ref(), id).await {
            Lookup::Live(user) if !users.contains(&user) => users.push(user),
            Lookup::Live(_) | Lookup::Dead => {}
            Lookup::Unavailable => unavailable = true,
        }
    }
    match users.as_slice() {
        [user] => Ok(*user),
        [] if unavailable => Err(Unverified::DatabaseUnavailable),
        [] => Err(Unverified::NoLiveSession),
        _ => Err(Unverified::Ambiguous),
    }
}

/// The client's database; right after a start browsers reconnect before it is
/// connected, so a handshake waits for it a little (then counts it as an outage).
async fn connected_store(client: &Client) -> Option<crate::store::Store> {
    let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
    loop {
        if let Some(store) = client.store() {
            return Some(store.clone());
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
