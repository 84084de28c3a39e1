//! Why an inbound event was refused. A refused event changes nothing and is logged
//! once, by the namespace's dispatcher; the browser gets no answer (as with the
//! original, which ignores what it cannot handle).

use std::fmt::Display;

use socketioxide::socket::Sid;

use super::args::ArgError;

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

/// The one log line of a refused event.
pub fn log_refusal(client: &str, sid: Sid, event: &str, refused: &Refused) {
    tracing::warn!(client, sid = %sid, event, "ignored: {refused}");
}
