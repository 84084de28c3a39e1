//! What both socket.io namespaces share on the way in: the positional arguments of an
//! event ([`args`]), the per-socket queue that hands events to the handlers in arrival
//! order ([`queue`]), and the one type a handler refuses an event with ([`Refused`]).
//! Each namespace parses its events into its own enum (`room::events`, `im::events`)
//! and is attached through [`Namespace`], which logs refusals in one place.

pub mod args;
pub mod deadline;
pub mod gate;
pub mod handshake;
pub mod namespace;
pub mod queue;
mod refused;

pub use namespace::{Namespace, attach};
pub use refused::{Refused, log_refusal};
