//! The refresh of the users' on-screen chat message settings every 20 minutes
//! (:00, :20, :40 local time); the rule itself is in [`crate::im::settings`].

use std::sync::Arc;

use chrono::TimeZone;
use tokio::sync::watch;

use super::schedule::next_refresh;
use super::{ClientList, Clock, wait_until};
use crate::im::refresh_settings;

pub(super) async fn refresh_loop<Tz: TimeZone + Send + Sync>(
    clients: ClientList,
    clock: Arc<dyn Clock>,
    zone: Tz,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = next_refresh(clock.now(), &zone);
    loop {
        if !wait_until(clock.as_ref(), next, &mut stop).await {
            return;
        }
        for chat in clients() {
            tokio::spawn(async move {
                if let Err(error) = refresh_settings(&chat).await {
                    tracing::warn!(client = chat.name(), %error, "cannot read message settings");
                }
            });
        }
        next = next_refresh(next, &zone);
    }
}
