//! Verified identity (opt-in per client, `verify_session` in client.cfg): a browser may
//! only speak as the ILIAS user whose session cookie it sent with the socket.io
//! handshake. See docs/verified-identity.md for what is checked and why it is sound.
//!
//! Two calls connect this to a namespace: the handshake gate (in the socket layer)
//! runs as socketioxide connect middleware (before the browser learns it is connected)
//! and binds the socket to the session's user; [`check_login`] refuses a `login` for
//! anyone else. Every later event already acts as the socket's logged-in user, so
//! binding the login binds them all. This module knows no client: the verifier with its
//! cache lives in each client, the gate asks it.

pub mod cache;
pub mod cookie;
mod verifier;

use socketioxide::extract::SocketRef;

use crate::ids::UserId;

pub use verifier::{Lookup, QUERY_TIMEOUT, Verifier, unix_now};

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

/// Whether `socket` may log in as `claimed`: always, unless its handshake bound it to
/// another user.
pub fn check_login(socket: &SocketRef, claimed: UserId) -> Result<(), LoginRefused> {
    match socket.extensions.get::<Identity>() {
        Some(Identity::Verified(bound)) if bound != claimed => Err(LoginRefused { bound, claimed }),
        _ => Ok(()),
    }
}
