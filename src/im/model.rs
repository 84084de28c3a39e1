//! The in-memory state of the on-screen chat of one ILIAS client: participants (users
//! who logged in or were named in a conversation), their sockets, and the 1:1 and group
//! conversations. Pure data and rules, no I/O, so every rule is unit-testable; the socket
//! handlers turn the outcomes into emits and queued writes.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use socketioxide::socket::Sid;

use crate::socket::args::{ArgError, id_value};

pub use crate::ids::UserId;
pub use crate::store::osc::StoredMessage;

mod saved;
pub use saved::{SavedIm, SavedParticipant};

/// `osc_conversation.participants` is a `varchar(4000)`: a participant list whose JSON
/// is longer cannot be stored, so it is refused before anything changes.
pub const MAX_PARTICIPANTS_JSON_CHARS: usize = 4000;

/// `{id, name}` of a participant: its JSON form on the wire and in
/// `osc_conversation.participants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantRef {
    pub id: UserId,
    pub name: String,
}

/// A user of the on-screen chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub id: UserId,
    pub name: String,
    /// `chat_osc_accept_msg`: true until the settings refresh or PHP says otherwise.
    pub accepts_messages: bool,
    /// Connected sockets (browser tabs); "online" means there is at least one.
    pub sockets: Vec<Sid>,
    /// Conversations this participant belongs to, in the order of joining.
    conversations: Vec<String>,
}

impl Participant {
    fn new(id: UserId, name: String) -> Participant {
        Participant {
            id,
            name,
            accepts_messages: true,
            sockets: Vec::new(),
            conversations: Vec::new(),
        }
    }

    /// Whether a browser tab of this user is connected.
    pub fn is_online(&self) -> bool {
        !self.sockets.is_empty()
    }

    fn reference(&self) -> ParticipantRef {
        ParticipantRef {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

/// A 1:1 or group conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Conversation {
    is_group: bool,
    /// Participant ids in the order they joined.
    participants: Vec<UserId>,
    latest_message: Option<StoredMessage>,
}

/// A copy of a conversation as the payloads show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    pub id: String,
    pub is_group: bool,
    pub participants: Vec<ParticipantRef>,
    pub latest_message: Option<StoredMessage>,
}

/// Why an on-screen chat event was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImError {
    #[error("socket has not logged in")]
    NotLoggedIn,
    #[error("the socket logged in as user {actual} but acts for user {claimed}")]
    WrongUser { claimed: UserId, actual: UserId },
    #[error("unknown conversation")]
    UnknownConversation,
    #[error("user {0} is not a participant of the conversation")]
    NotParticipant(UserId),
    #[error("user {0} is already a participant of the conversation")]
    AlreadyParticipant(UserId),
    #[error("the requesting user is not among the requested participants")]
    RequesterNotListed,
    #[error("the participant list is empty")]
    NoParticipants,
    #[error("the participant list would be longer than the database can store")]
    ParticipantsTooLong,
}

/// Outcome of `conversation` (and of `addUser`): the conversation and the row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub view: ConversationView,
    /// The conversation is new: its row must be inserted.
    pub created: bool,
    /// The participant list changed (or the row is new).
    pub changed: bool,
    /// `osc_conversation.participants`.
    pub participants_json: String,
}

/// Outcome of `removeUser`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub view: ConversationView,
    pub participants_json: String,
    /// Sockets of the user who left (all tabs get `removeUser`).
    pub leaver_sockets: Vec<Sid>,
    /// Sockets of the remaining participants who accept messages (`conversation`).
    pub remaining_sockets: Vec<Sid>,
}

/// Who gets a message, decided from the accept flags and online state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub view: ConversationView,
    /// False: nothing is stored or delivered; the sender is told.
    pub sender_accepts: bool,
    /// Whether the message is written to `osc_messages`.
    pub persist: bool,
    /// Sockets of every participant who accepts messages (sender included).
    pub recipients: Vec<Sid>,
    /// Participants who do not accept messages, as the original's `{"<id>": <id>}`.
    pub ignored: BTreeMap<UserId, UserId>,
    pub sender_sockets: Vec<Sid>,
}

/// Conversations the purge removed from the database, as far as memory is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Conversations forgotten in memory.
    pub dropped: usize,
    /// Conversations that got a message while the purge ran: their rows are written
    /// again (id, is_group, participants JSON) instead of forgetting them.
    pub restore: Vec<(String, bool, String)>,
}

/// Why a stored participant list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantsError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a JSON array")]
    NotArray,
    #[error("element {0} is not an object")]
    NotObject(usize),
    #[error("element {index}: {error}")]
    BadField { index: usize, error: ArgError },
}

/// Reads `osc_conversation.participants` (a JSON array of `{id, name}`; ids may be
/// numbers or numeric strings, as the original stored whatever the browser sent). Ids
/// that are not positive are left out, as the original never stored them; `NULL` is an
/// empty list.
pub fn parse_participants(text: Option<&str>) -> Result<Vec<ParticipantRef>, ParticipantsError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| ParticipantsError::Json(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(ParticipantsError::NotArray),
    };
    let mut out: Vec<ParticipantRef> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(ParticipantsError::NotObject(index));
        };
        let id = match fields.get("id") {
            // Zero and negative ids were never written by the original; skip them.
            Some(Value::Number(n)) if n.as_i64().is_some_and(|id| id <= 0) => continue,
            Some(v) => id_value(v, index, "id")
                .map_err(|error| ParticipantsError::BadField { index, error })?,
            None => {
                return Err(ParticipantsError::BadField {
                    index,
                    error: ArgError::Missing { index, what: "id" },
                });
            }
        };
        let name = match fields.get("name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(name)) => name.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(ParticipantsError::BadField {
                    index,
                    error: ArgError::Type {
                        index,
                        what: "name",
                        expected: "a string",
                        found: "another type".into(),
                    },
                });
            }
        };
        if !out.iter().any(|p| p.id == id) {
            out.push(ParticipantRef { id, name });
        }
    }
    Ok(out)
}

/// The JSON text of a participant list (unique ids, in order).
pub fn participants_json(participants: &[ParticipantRef]) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string(participants).unwrap_or_else(|_| "[]".to_string())
}

/// All on-screen chat state of one ILIAS client.
#[derive(Debug, Default)]
pub struct ImState {
    participants: HashMap<UserId, Participant>,
    conversations: HashMap<String, Conversation>,
    /// Conversation ids in insertion order: `conversation` picks the first match.
    order: Vec<String>,
    /// Which user each logged-in socket speaks for.
    sockets: HashMap<Sid, UserId>,
}

impl ImState {
    /// The participant with this id.
    pub fn participant(&self, id: UserId) -> Option<&Participant> {
        self.participants.get(&id)
    }

    /// What the model holds per connected browser: socket → user entries, and
    /// sockets listed under their participants.
    pub fn held(&self) -> (usize, usize) {
        let listed = self.participants.values().map(|p| p.sockets.len()).sum();
        (self.sockets.len(), listed)
    }

    /// Number of known conversations.
    pub fn conversation_count(&self) -> usize {
        self.conversations.len()
    }

    /// Number of distinct users with a logged-in socket.
    pub fn logged_in_user_count(&self) -> usize {
        self.sockets.values().collect::<HashSet<_>>().len()
    }

    /// The participant with this id, created offline (accepting messages) when unknown;
    /// an existing participant keeps its name, as in the original.
    fn participant_or_create(&mut self, id: UserId, name: Option<&str>) -> &mut Participant {
        self.participants
            .entry(id)
            .or_insert_with(|| Participant::new(id, name.unwrap_or_default().to_string()))
    }

    /// Start-up preload of an `osc_conversation` row. Returns whether it was added (a
    /// conversation with that id may already exist).
    pub fn add_conversation(
        &mut self,
        id: &str,
        is_group: bool,
        participants: &[ParticipantRef],
    ) -> bool {
        if self.conversations.contains_key(id) {
            return false;
        }
        let mut ids = Vec::with_capacity(participants.len());
        for p in participants {
            let participant = self.participant_or_create(p.id, Some(&p.name));
            participant.conversations.push(id.to_string());
            ids.push(p.id);
        }
        self.conversations.insert(
            id.to_string(),
            Conversation {
                is_group,
                participants: ids,
                latest_message: None,
            },
        );
        self.order.push(id.to_string());
        true
    }

    /// Browser `login(userId, name)`: the socket speaks for this user from now on (a
    /// socket that logged in as someone else before is moved). The name is updated when
    /// given.
    pub fn login(&mut self, sid: Sid, user: UserId, name: Option<String>) -> ParticipantRef {
        if let Some(previous) = self.sockets.insert(sid, user)
            && previous != user
            && let Some(p) = self.participants.get_mut(&previous)
        {
            p.sockets.retain(|s| *s != sid);
        }
        let participant = self.participant_or_create(user, name.as_deref());
        if let Some(name) = name {
            participant.name = name;
        }
        if !participant.sockets.contains(&sid) {
            participant.sockets.push(sid);
        }
        participant.reference()
    }

    /// Forgets a closed socket; the participant stays (offline when it was the last).
    pub fn socket_closed(&mut self, sid: Sid) -> Option<UserId> {
        let user = self.sockets.remove(&sid)?;
        if let Some(p) = self.participants.get_mut(&user) {
            p.sockets.retain(|s| *s != sid);
        }
        Some(user)
    }

    /// The user a socket logged in as.
    pub fn user_of_socket(&self, sid: Sid) -> Result<UserId, ImError> {
        self.sockets.get(&sid).copied().ok_or(ImError::NotLoggedIn)
    }

    /// The socket's user, who must be the user the event names (a socket may only act
    /// for itself; the original trusted any id).
    pub fn acting_as(&self, sid: Sid, claimed: UserId) -> Result<UserId, ImError> {
        let actual = self.user_of_socket(sid)?;
        if actual != claimed {
            return Err(ImError::WrongUser { claimed, actual });
        }
        Ok(actual)
    }

    /// The socket's user, who must be a participant of the conversation.
    pub fn member(&self, sid: Sid, conversation: &str) -> Result<UserId, ImError> {
        let user = self.user_of_socket(sid)?;
        let c = self
            .conversations
            .get(conversation)
            .ok_or(ImError::UnknownConversation)?;
        if !c.participants.contains(&user) {
            return Err(ImError::NotParticipant(user));
        }
        Ok(user)
    }

    /// A copy of a conversation for payloads.
    pub fn view(&self, id: &str) -> Option<ConversationView> {
        let c = self.conversations.get(id)?;
        Some(ConversationView {
            id: id.to_string(),
            is_group: c.is_group,
            participants: self.refs(&c.participants),
            latest_message: c.latest_message.clone(),
        })
    }

    fn refs(&self, ids: &[UserId]) -> Vec<ParticipantRef> {
        ids.iter()
            .map(|id| match self.participants.get(id) {
                Some(p) => p.reference(),
                None => ParticipantRef {
                    id: *id,
                    name: String::new(),
                },
            })
            .collect()
    }

    /// The conversations a user belongs to, in the order of joining.
    pub fn conversations_of(&self, user: UserId) -> Vec<String> {
        self.participants
            .get(&user)
            .map(|p| p.conversations.clone())
            .unwrap_or_default()
    }

    /// Sockets of a user (empty when unknown or offline).
    pub fn sockets_of(&self, user: UserId) -> Vec<Sid> {
        self.participants
            .get(&user)
            .map(|p| p.sockets.clone())
            .unwrap_or_default()
    }

    /// Records the newest message of a conversation (read from the database, or just
    /// sent).
    pub fn set_latest_message(&mut self, id: &str, message: Option<StoredMessage>) {
        if let Some(c) = self.conversations.get_mut(id) {
            c.latest_message = message;
        }
    }

    fn insert_new(&mut self, id: String, is_group: bool) {
        self.conversations.insert(
            id.clone(),
            Conversation {
                is_group,
                participants: Vec::new(),
                latest_message: None,
            },
        );
        self.order.push(id);
    }

    fn join(&mut self, id: &str, user: UserId, name: Option<&str>) {
        let Some(c) = self.conversations.get_mut(id) else {
            return;
        };
        if c.participants.contains(&user) {
            return;
        }
        c.participants.push(user);
        self.participant_or_create(user, name)
            .conversations
            .push(id.to_string());
    }

    /// The JSON the participant list of a conversation would have with `extra` added,
    /// refused when it would not fit the column.
    fn prospective_json(
        &self,
        current: &[UserId],
        extra: &[(UserId, Option<&str>)],
    ) -> Result<String, ImError> {
        let mut refs = self.refs(current);
        for (id, name) in extra {
            if refs.iter().any(|r| r.id == *id) {
                continue;
            }
            let name = match self.participants.get(id) {
                Some(p) => p.name.clone(),
                None => name.unwrap_or_default().to_string(),
            };
            refs.push(ParticipantRef { id: *id, name });
        }
        let json = participants_json(&refs);
        if json.chars().count() > MAX_PARTICIPANTS_JSON_CHARS {
            return Err(ImError::ParticipantsTooLong);
        }
        Ok(json)
    }

    /// Browser `conversation(participants)`: the first conversation (in insertion
    /// order) whose participants are all among the requested ones, or a new one with
    /// the id `new_id`; then every requested participant joins it.
    ///
    /// As in the original, the group flag is not compared and extra requested users
    /// are added. Unlike the original, an empty conversation matches nothing (it would
    /// match every request), and the requester must be in the list (a socket may only
    /// start conversations it takes part in).
    pub fn start_conversation(
        &mut self,
        requester: UserId,
        requested: &[(UserId, Option<String>)],
        new_id: String,
    ) -> Result<Started, ImError> {
        if requested.is_empty() {
            return Err(ImError::NoParticipants);
        }
        if !requested.iter().any(|(id, _)| *id == requester) {
            return Err(ImError::RequesterNotListed);
        }
        let wanted: HashSet<UserId> = requested.iter().map(|(id, _)| *id).collect();
        let found = self
            .order
            .iter()
            .find(|id| {
                self.conversations.get(*id).is_some_and(|c| {
                    !c.participants.is_empty() && c.participants.iter().all(|p| wanted.contains(p))
                })
            })
            .cloned();
        let extra: Vec<(UserId, Option<&str>)> = requested
            .iter()
            .map(|(id, name)| (*id, name.as_deref()))
            .collect();
        let current = found
            .as_ref()
            .and_then(|id| self.conversations.get(id))
            .map(|c| c.participants.clone())
            .unwrap_or_default();
        let participants_json = self.prospective_json(&current, &extra)?;
        let created = found.is_none();
        let id = match found {
            Some(id) => id,
            None => {
                self.insert_new(new_id.clone(), false);
                new_id
            }
        };
        for (user, name) in &extra {
            self.join(&id, *user, *name);
        }
        let view = self.view(&id).ok_or(ImError::UnknownConversation)?;
        let changed = created || view.participants.len() != current.len();
        Ok(Started {
            view,
            created,
            changed,
            participants_json,
        })
    }

    /// Browser `addUser(conversationId, userId, name)` by a participant: a group
    /// conversation gets the new participant; a 1:1 conversation stays as it is and a
    /// new group conversation (id `new_id`) with all its participants plus the new one
    /// is created. A user who is already in the conversation is refused before anything
    /// is created (the original left an empty group row behind).
    pub fn add_user(
        &mut self,
        requester: UserId,
        conversation: &str,
        user: UserId,
        name: &str,
        new_id: String,
    ) -> Result<Started, ImError> {
        let c = self
            .conversations
            .get(conversation)
            .ok_or(ImError::UnknownConversation)?;
        if !c.participants.contains(&requester) {
            return Err(ImError::NotParticipant(requester));
        }
        if c.participants.contains(&user) {
            return Err(ImError::AlreadyParticipant(user));
        }
        let (members, is_group) = (c.participants.clone(), c.is_group);
        let participants_json = self.prospective_json(&members, &[(user, Some(name))])?;
        let id = if is_group {
            conversation.to_string()
        } else {
            self.insert_new(new_id.clone(), true);
            for member in &members {
                self.join(&new_id, *member, None);
            }
            new_id
        };
        self.join(&id, user, Some(name));
        let view = self.view(&id).ok_or(ImError::UnknownConversation)?;
        Ok(Started {
            view,
            created: !is_group,
            changed: true,
            participants_json,
        })
    }

    /// Browser `removeUser(conversationId, userId, name)`: the user leaves the
    /// conversation.
    pub fn remove_user(&mut self, conversation: &str, user: UserId) -> Result<Left, ImError> {
        let c = self
            .conversations
            .get_mut(conversation)
            .ok_or(ImError::UnknownConversation)?;
        if !c.participants.contains(&user) {
            return Err(ImError::NotParticipant(user));
        }
        c.participants.retain(|p| *p != user);
        let remaining = c.participants.clone();
        if let Some(p) = self.participants.get_mut(&user) {
            p.conversations.retain(|id| id != conversation);
        }
        let view = self
            .view(conversation)
            .ok_or(ImError::UnknownConversation)?;
        let remaining_sockets = remaining
            .iter()
            .filter_map(|id| self.participants.get(id))
            .filter(|p| p.accepts_messages)
            .flat_map(|p| p.sockets.iter().copied())
            .collect();
        Ok(Left {
            participants_json: participants_json(&view.participants),
            view,
            leaver_sockets: self.sockets_of(user),
            remaining_sockets,
        })
    }

    /// Browser `message(...)` from a participant: who gets it. When the sender accepts
    /// messages and the message is stored, it becomes the conversation's latest message.
    pub fn send(&mut self, sender: UserId, message: &StoredMessage) -> Result<Delivery, ImError> {
        let c = self
            .conversations
            .get(&message.conversation_id)
            .ok_or(ImError::UnknownConversation)?;
        if !c.participants.contains(&sender) {
            return Err(ImError::NotParticipant(sender));
        }
        let members: Vec<&Participant> = c
            .participants
            .iter()
            .filter_map(|id| self.participants.get(id))
            .collect();
        let sender_accepts = self
            .participants
            .get(&sender)
            .is_some_and(|p| p.accepts_messages);
        // Group messages are always stored; 1:1 messages when anyone accepts them.
        let persist = sender_accepts && (c.is_group || members.iter().any(|p| p.accepts_messages));
        let recipients = members
            .iter()
            .filter(|p| p.accepts_messages)
            .flat_map(|p| p.sockets.iter().copied())
            .collect();
        let ignored = members
            .iter()
            .filter(|p| !p.accepts_messages)
            .map(|p| (p.id, p.id))
            .collect();
        if persist {
            self.set_latest_message(&message.conversation_id, Some(message.clone()));
        }
        let view = self
            .view(&message.conversation_id)
            .ok_or(ImError::UnknownConversation)?;
        Ok(Delivery {
            view,
            sender_accepts,
            persist,
            recipients,
            ignored,
            sender_sockets: self.sockets_of(sender),
        })
    }

    /// Typing indicators: the conversation, the typing participant, and the sockets of
    /// every other participant (the accept flag is not looked at, as in the original).
    pub fn typing(
        &self,
        user: UserId,
        conversation: &str,
    ) -> Result<(ConversationView, ParticipantRef, Vec<Sid>), ImError> {
        let view = self
            .view(conversation)
            .ok_or(ImError::UnknownConversation)?;
        let me = view
            .participants
            .iter()
            .find(|p| p.id == user)
            .cloned()
            .ok_or(ImError::NotParticipant(user))?;
        let recipients = view
            .participants
            .iter()
            .filter(|p| p.id != user)
            .flat_map(|p| self.sockets_of(p.id))
            .collect();
        Ok((view, me, recipients))
    }

    /// The settings refresh: every known participant accepts messages exactly when the
    /// user is in `accepting` (`usr_pref` `chat_osc_accept_msg` = `y`). Returns how many
    /// participants accept.
    pub fn refresh_accepting(&mut self, accepting: &HashSet<UserId>) -> usize {
        self.refresh_accepting_with(&AcceptSettings {
            accepting: accepting.clone(),
            ..AcceptSettings::default()
        })
    }

    /// The settings refresh with a release's whole rule (see [`AcceptSettings`]).
    /// Returns how many participants accept.
    pub fn refresh_accepting_with(&mut self, settings: &AcceptSettings) -> usize {
        let mut count = 0;
        for p in self.participants.values_mut() {
            p.accepts_messages = settings.accepts(p.id);
            count += usize::from(p.accepts_messages);
        }
        count
    }

    /// PHP `UserConfigChange`: sets one user's flag. An unknown user is created offline
    /// so the setting is not lost until the next refresh (the original dropped it and
    /// let the user default to accepting).
    pub fn set_accepts_messages(&mut self, user: UserId, accepts: bool) {
        self.participant_or_create(user, None).accepts_messages = accepts;
    }

    /// After the purge deleted these conversation rows: forget them, except those that
    /// got a message at or after `since_ms` (sent while the purge ran), whose rows are
    /// restored instead.
    pub fn purged(&mut self, ids: &[String], since_ms: i64) -> Purged {
        let mut dropped = 0;
        let mut restore = Vec::new();
        for id in ids {
            let Some(c) = self.conversations.get(id) else {
                continue;
            };
            let fresh = c
                .latest_message
                .as_ref()
                .is_some_and(|m| m.timestamp >= since_ms);
            if fresh {
                let refs = self.refs(&c.participants);
                restore.push((id.clone(), c.is_group, participants_json(&refs)));
                continue;
            }
            if let Some(c) = self.conversations.remove(id) {
                for user in c.participants {
                    if let Some(p) = self.participants.get_mut(&user) {
                        p.conversations.retain(|cid| cid != id);
                    }
                }
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.order.retain(|id| self.conversations.contains_key(id));
        }
        Purged { dropped, restore }
    }
}

/// The `chat_osc_accept_msg` preferences as one release reads them: users with a
/// `y` row accept, users with another value do not, and users without a row follow
/// `default_accepts` (always false up to ILIAS 10, where every account has a row; the
/// global default on ILIAS 11+, whose user settings delete the row of a user who
/// keeps the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptSettings {
    pub accepting: HashSet<UserId>,
    pub declining: HashSet<UserId>,
    pub default_accepts: bool,
}

impl AcceptSettings {
    /// Whether this user accepts on-screen chat messages.
    pub fn accepts(&self, user: UserId) -> bool {
        self.accepting.contains(&user) || (self.default_accepts && !self.declining.contains(&user))
    }
}

#[cfg(test)]
mod tests;
