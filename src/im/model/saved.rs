//! The on-screen chat state a restart keeps (the restart snapshot): the participants
//! with their names and message settings. Conversations are ILIAS's own rows and are
//! loaded from the database at start-up; sockets are not kept.

use serde::{Deserialize, Serialize};

use super::{ImState, Participant, UserId};

/// A participant without sockets and conversations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedParticipant {
    pub id: UserId,
    pub name: String,
    pub accepts_messages: bool,
}

/// Everything of [`ImState`] a restart keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedIm {
    pub participants: Vec<SavedParticipant>,
}

impl ImState {
    /// The state to keep across a restart.
    pub fn save(&self) -> SavedIm {
        let mut participants: Vec<SavedParticipant> = self
            .participants
            .values()
            .map(|p| SavedParticipant {
                id: p.id,
                name: p.name.clone(),
                accepts_messages: p.accepts_messages,
            })
            .collect();
        participants.sort_by_key(|p| p.id);
        SavedIm { participants }
    }

    /// Takes over saved participants (at start-up, before any browser is served and
    /// before the conversations are loaded, which then join them). Returns how many.
    pub fn restore(&mut self, saved: SavedIm) -> usize {
        let count = saved.participants.len();
        for p in saved.participants {
            let participant = self
                .participants
                .entry(p.id)
                .or_insert_with(|| Participant::new(p.id, p.name.clone()));
            participant.name = p.name;
            participant.accepts_messages = p.accepts_messages;
        }
        count
    }
}
