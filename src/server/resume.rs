//! Restarts the browsers do not notice. A stop that expects to come back — the
//! listening socket outlives this process because systemd holds it
//! (`ilias-chat.socket`), so browsers reconnect to the next process — saves the restart
//! snapshot ([`crate::snapshot`]) instead of telling browsers `shutdown` (which makes
//! ILIAS room pages leave the room) and ending the sessions; the next process takes the
//! snapshot over before it serves anyone.

use crate::clock::now_ms;
use crate::room;
use crate::snapshot::Snapshot;

use super::Server;

impl Server {
    /// At start, before serving: takes over the snapshot a paused predecessor left,
    /// client by client. Without one (or for a client that changed) the start-up
    /// clean-up ends every open session, as the original does.
    pub(super) fn resume_from_snapshot(&self) {
        let max_age = room::reconnect_window();
        let mut snapshot = match Snapshot::take_file(&self.state, now_ms(), max_age) {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => {
                tracing::debug!("no restart snapshot; starting clean");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "restart snapshot ignored; every open chat session is ended");
                return;
            }
        };
        let age_ms = now_ms().saturating_sub(snapshot.saved_at_ms);
        for served in self.clients.all() {
            let name = served.name().to_string();
            match snapshot.take_client(&served.client.config) {
                None => tracing::info!(
                    client = name,
                    "client not in the restart snapshot; starting it clean"
                ),
                Some(Err(saved)) => tracing::warn!(
                    client = name,
                    saved,
                    "client changed since the restart snapshot (database or ILIAS version); starting it clean"
                ),
                Some(Ok(saved)) => {
                    let users = served.rooms.restore(saved.rooms);
                    let participants = served.im.im().restore(saved.im);
                    tracing::info!(
                        client = name,
                        users,
                        participants,
                        age_ms,
                        "resumed from the restart snapshot"
                    );
                }
            }
        }
        for name in snapshot.clients.keys() {
            tracing::info!(
                client = name,
                "client of the restart snapshot is no longer configured"
            );
        }
    }

    /// At a stop that expects to come back: saves what browsers need to resume.
    pub(super) fn save_snapshot(&self) {
        let mut snapshot = Snapshot::new(now_ms());
        for served in self.clients.all() {
            let rooms = served.rooms.rooms().save();
            let im = served.im.im().save();
            snapshot.add(&served.client.config, rooms, im);
        }
        match snapshot.write(&self.state) {
            Ok(path) => tracing::info!(
                path = %path.display(),
                clients = snapshot.clients.len(),
                "restart snapshot saved; browsers resume with the next process"
            ),
            Err(error) => tracing::error!(
                %error,
                "cannot save the restart snapshot; the next start ends every open chat session"
            ),
        }
    }
}
