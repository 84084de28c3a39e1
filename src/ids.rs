//! The identifiers both namespaces share. A leaf module: everything may use it, it uses
//! nothing of the crate.

/// An ILIAS user id (`usr_data.usr_id`).
pub type UserId = i64;

/// A fresh conversation or message id: a random RFC 4122 v4 UUID, as the original
/// hands out.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
