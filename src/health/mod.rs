//! Is the chat of every ILIAS client working? The answer of the authenticated status
//! route `/backend/Status/<name>` ([`ClientStatus`], built by the server) and the
//! `ilias-chat --health` probe that asks a running server for it ([`probe`]).

pub mod probe;
mod report;

pub use report::{ClientStatus, DatabaseStatus, IliasStatus, PerFeature, QueueStatus, Resources};
