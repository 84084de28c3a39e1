//! Events a browser sends before its `login`. socket.io-client buffers what a page
//! emits while the connection is down and sends it on reconnect *before* the `connect`
//! callback that sends `login`, so a chat message typed during a network drop arrives
//! ahead of the login that makes it acceptable. The gate holds such events (a bounded
//! number) until the socket's first `login` has been handled, then lets them through
//! in their order.

use super::queue::Inbound;

/// Events held per socket at most; further ones are handled at once (and refused, as
/// nobody logged in).
pub const HELD_LIMIT: usize = 256;

/// The gate of one socket.
#[derive(Debug)]
pub struct LoginGate {
    login: &'static str,
    open: bool,
    held: Vec<Inbound>,
}

impl LoginGate {
    /// A closed gate that opens with the event named `login`.
    pub fn new(login: &'static str) -> LoginGate {
        LoginGate {
            login,
            open: false,
            held: Vec::new(),
        }
    }

    /// What to handle now, in order, after `inbound` arrived: nothing while it is held;
    /// the login followed by everything held; everything held before the disconnect
    /// (it is then refused like any event of a socket that never logged in).
    pub fn admit(&mut self, inbound: Inbound) -> Vec<Inbound> {
        if self.open {
            return vec![inbound];
        }
        match inbound {
            Inbound::Event { name, .. } if name == self.login => {
                self.open = true;
                let mut now = vec![inbound];
                now.append(&mut self.held);
                now
            }
            Inbound::Event { .. } if self.held.len() < HELD_LIMIT => {
                self.held.push(inbound);
                Vec::new()
            }
            Inbound::Event { .. } => vec![inbound],
            Inbound::Disconnect => {
                let mut now = std::mem::take(&mut self.held);
                now.push(Inbound::Disconnect);
                now
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::args::EventArgs;

    fn event(name: &'static str) -> Inbound {
        Inbound::Event {
            name,
            args: EventArgs::default(),
        }
    }

    fn names(list: &[Inbound]) -> Vec<&'static str> {
        list.iter()
            .map(|i| match i {
                Inbound::Event { name, .. } => *name,
                Inbound::Disconnect => "disconnect",
            })
            .collect()
    }

    #[test]
    fn events_before_the_login_follow_it_in_order() {
        let mut gate = LoginGate::new("login");
        assert!(gate.admit(event("message")).is_empty());
        assert!(gate.admit(event("userStartedTyping")).is_empty());
        assert_eq!(
            names(&gate.admit(event("login"))),
            ["login", "message", "userStartedTyping"]
        );
        assert_eq!(names(&gate.admit(event("message"))), ["message"]);
        assert_eq!(names(&gate.admit(event("login"))), ["login"]);
    }

    #[test]
    fn held_events_are_bounded_and_released_at_the_disconnect() {
        let mut gate = LoginGate::new("login");
        for _ in 0..HELD_LIMIT {
            assert!(gate.admit(event("message")).is_empty());
        }
        assert_eq!(names(&gate.admit(event("history"))), ["history"]);
        let last = gate.admit(Inbound::Disconnect);
        assert_eq!(last.len(), HELD_LIMIT + 1);
        assert!(matches!(last.last(), Some(Inbound::Disconnect)));
    }
}
