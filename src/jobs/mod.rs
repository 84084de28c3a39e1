//! The periodic jobs: the daily purge of old messages (only when server.cfg sets
//! `deletion_mode` to 1) and the 20-minute refresh of the users' on-screen chat message
//! settings. Each runs once per client (the original purged every database twice,
//! once per namespace), on the server's local time, and their timing rules are pure
//! functions in [`schedule`].

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{Client, Clients};
use crate::config::DeletionPolicy;
use crate::store::{Reply, Write};

use schedule::{Clock, SystemClock, next_purge, next_refresh, purge_bound};

/// The longest single sleep: waiting in steps re-reads the wall clock, so a clock
/// that is set or a machine that was suspended does not shift the runs.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Starts the jobs on the system clock and zone. They end when `stop` turns true.
pub fn spawn(
    clients: Arc<Clients>,
    deletion: Option<DeletionPolicy>,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut jobs = vec![tokio::spawn(refresh_loop(
        clients.clone(),
        clock.clone(),
        Local,
        stop.clone(),
    ))];
    match deletion {
        Some(policy) => {
            tracing::info!(
                "Clear messages process initialized for {:02}:{:02} once a day (older than {} {})",
                policy.time.hour,
                policy.time.minute,
                policy.value,
                policy.unit
            );
            jobs.push(tokio::spawn(purge_loop(
                clients, policy, clock, Local, stop,
            )));
        }
        None => tracing::debug!("message purge is off (deletion_mode is not 1)"),
    }
    jobs
}

/// Sleeps until the clock reaches `target`. Returns false when `stop` turned true
/// first.
pub async fn wait_until(
    clock: &dyn Clock,
    target: DateTime<Utc>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *stop.borrow() {
            return false;
        }
        let left = target - clock.now();
        let Ok(left) = left.to_std() else {
            return true;
        };
        if left.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
            _ = stop.wait_for(|stop| *stop) => return false,
        }
    }
}

async fn purge_loop<Tz: TimeZone + Send + Sync>(
    clients: Arc<Clients>,
    policy: DeletionPolicy,
    clock: Arc<dyn Clock>,
    zone: Tz,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = next_purge(clock.now(), policy.time, &zone);
    loop {
        tracing::debug!(at = %next, "next message purge");
        if !wait_until(clock.as_ref(), next, &mut stop).await {
            return;
        }
        let bound = purge_bound(clock.now(), policy.unit, policy.value, &zone);
        for client in clients.all() {
            tokio::spawn(async move { purge(&client, bound).await });
        }
        // From the planned instant, not from "now": a run never repeats the same day.
        next = next_purge(next, policy.time, &zone);
    }
}

/// Purges one client's database of rows older than `bound` and forgets the deleted
/// conversations. Returns the report, or `None` when the database is not connected or
/// refused the purge.
pub async fn purge(client: &Client, bound: DateTime<Utc>) -> Option<crate::store::PurgeReport> {
    if client.store().is_none() {
        tracing::warn!(
            client = client.name(),
            "message purge skipped: the database is not connected"
        );
        return None;
    }
    tracing::info!(
        client = client.name(),
        bound = %bound,
        bound_ms = bound.timestamp_millis(),
        "Start clear process older than the bound"
    );
    let (reply, answer) = Reply::new();
    client.write(Write::Purge {
        bound_s: bound.timestamp(),
        bound_ms: bound.timestamp_millis(),
        reply,
    });
    let Ok(report) = answer.await else {
        tracing::error!(client = client.name(), "message purge failed");
        return None;
    };
    tracing::info!(
        client = client.name(),
        history = report.history,
        osc_messages = report.messages,
        osc_conversations = report.conversations,
        osc_activity = report.activity,
        "Clear messages: {} chat room messages, {} on-screen chat messages, {} conversations, {} activity rows deleted",
        report.history,
        report.messages,
        report.conversations,
        report.activity,
    );
    // A deleted conversation that has a message younger than the bound got it after
    // the purge ran (else it would not have been deleted): its row is written again.
    let purged = client
        .im()
        .purged(&report.conversation_ids, bound.timestamp_millis());
    for (id, is_group, participants) in purged.restore {
        client.write(Write::ConversationInsert {
            id,
            is_group,
            participants,
        });
    }
    tracing::debug!(
        client = client.name(),
        forgotten = purged.dropped,
        "purged conversations forgotten"
    );
    Some(report)
}

async fn refresh_loop<Tz: TimeZone + Send + Sync>(
    clients: Arc<Clients>,
    clock: Arc<dyn Clock>,
    zone: Tz,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = next_refresh(clock.now(), &zone);
    loop {
        if !wait_until(clock.as_ref(), next, &mut stop).await {
            return;
        }
        for client in clients.all() {
            tokio::spawn(async move {
                if let Err(error) = crate::im::refresh_settings(&client).await {
                    tracing::warn!(client = client.name(), %error, "cannot read message settings");
                }
            });
        }
        next = next_refresh(next, &zone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A clock that moves only when told to.
    struct FakeClock(Mutex<DateTime<Utc>>);

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_follows_the_wall_clock_and_stops() {
        let start: DateTime<Utc> = "2025-01-15T10:00:00Z".parse().expect("time");
        let clock = Arc::new(FakeClock(Mutex::new(start)));
        let (stop_tx, mut stop) = watch::channel(false);
        // A target in the past is due at once.
        assert!(wait_until(clock.as_ref(), start, &mut stop).await);
        // The wall clock jumps (clock set, machine resumed): the wait ends at the next
        // step although little time passed on the runtime's clock.
        let target = start + chrono::TimeDelta::hours(5);
        let jumper = clock.clone();
        let jump = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            *jumper.0.lock().unwrap_or_else(|p| p.into_inner()) = target;
        });
        let before = tokio::time::Instant::now();
        assert!(wait_until(clock.as_ref(), target, &mut stop).await);
        assert!(before.elapsed() <= MAX_SLEEP + Duration::from_secs(1));
        jump.await.expect("jumped");
        // Stopping ends a wait.
        stop_tx.send_replace(true);
        assert!(
            !wait_until(
                clock.as_ref(),
                target + chrono::TimeDelta::hours(1),
                &mut stop
            )
            .await
        );
    }
}
