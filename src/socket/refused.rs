//! Why an inbound event was refused. A refused event changes nothing and is logged
//! once, by the namespace's dispatcher; the browser gets no answer (as with the
//! original, which ignores what it cannot handle).

use std::fmt::Display;

use socketioxide::socket::Sid;

use super::args::ArgError;
use crate::repeats::{Repeats, Verdict};

/// An event that was not acted on, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The arguments do not have the shape the event needs.
    #[error(transparent)]
    Malformed(#[from] ArgError),
    /// Well-formed, but a rule of the chat does not allow it (not logged in, not a
    /// participant, unknown room, …).
    #[error("{0}")]
    NotAllowed(String),
}

impl Refused {
    /// A refusal by a rule of the chat, with the rule's own explanation.
    pub fn because(why: impl Display) -> Refused {
        Refused::NotAllowed(why.to_string())
    }
}

/// The log line of a refused event: the first of its kind on a socket in full, the
/// next ones counted and summarised ([`Repeats`]).
pub fn log_refusal(client: &str, sid: Sid, event: &str, refused: &Refused) {
    let kind = match refused {
        Refused::Malformed(_) => "malformed",
        Refused::NotAllowed(_) => "not allowed",
    };
    let what = format!("{kind} `{event}` events");
    match Repeats::global().note(&sid.to_string(), &what) {
        Verdict::First => tracing::warn!(client, sid = %sid, event, "ignored: {refused}"),
        Verdict::Quiet => {}
        Verdict::Summary(count) => tracing::warn!(
            client,
            sid = %sid,
            event,
            count,
            "ignored: {what} (events since the last line; latest: {refused})"
        ),
    }
}
