//! Verified identity (opt-in per client, `verify_session` in client.cfg): a browser may
//! only speak as the ILIAS user whose session cookie it sent with the socket.io
//! handshake. See docs/verified-identity.md for what is checked and why it is sound.
//!
//! Two calls connect this to a namespace: [`gate`] runs as socketioxide connect
//! middleware (before the browser learns it is connected) and binds the socket to the
//! session's user; [`check_login`] refuses a `login` for anyone else. Every later event
//! already acts as the socket's logged-in user, so binding the login binds them all.

pub mod cache;
pub mod cookie;
mod verifier;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use socketioxide::extract::SocketRef;

use crate::client::Client;
use crate::config::VerifySession;
use crate::room::model::UserId;
use cookie::HandshakeCookies;

pub use verifier::{Lookup, Verifier, unix_now};

/// What the server knows about a socket's user; kept in the socket's extensions when
/// verification is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The handshake carried a live ILIAS session of this user.
    Verified(UserId),
    /// Lenient mode let the socket in without a valid session; its `login` is believed.
    Unverified,
}

/// The `connect_error` a refused browser gets. Deliberately without the reason: that
/// is for the admin's log, not for whoever probes the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not authorized: no valid ILIAS session")]
pub struct Refused;

/// Why a handshake did not verify (logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    #[error("no {0} cookie in the handshake")]
    NoCookie(String),
    #[error("the {0} cookie is not a PHP session id")]
    Malformed(String),
    #[error("the ilClientId cookie names another ILIAS client")]
    OtherClient,
    #[error("no live session of a logged-in user has this id (expired, logged out or anonymous)")]
    NoLiveSession,
    #[error("the cookies carry sessions of different users")]
    Ambiguous,
    #[error("the database cannot be asked and the session was not verified recently")]
    DatabaseUnavailable,
}

/// A `login` that names another user than the socket's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("login as user {claimed} refused: the socket's ILIAS session belongs to user {bound}")]
pub struct LoginRefused {
    pub bound: UserId,
    pub claimed: UserId,
}

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
    let deadline = tokio::time::Instant::now() + verifier::QUERY_TIMEOUT;
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

/// Whether `socket` may log in as `claimed`: always, unless its handshake bound it to
/// another user.
pub fn check_login(socket: &SocketRef, claimed: UserId) -> Result<(), LoginRefused> {
    match socket.extensions.get::<Identity>() {
        Some(Identity::Verified(bound)) if bound != claimed => Err(LoginRefused { bound, claimed }),
        _ => Ok(()),
    }
}
