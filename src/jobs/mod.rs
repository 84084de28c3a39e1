//! The periodic jobs: the daily purge of old messages (only when server.cfg sets
//! `deletion_mode` to 1) and the 20-minute refresh of the users' on-screen chat message
//! settings. Each runs once per client (the original purged every database twice,
//! once per namespace), on the server's local time, and their timing rules are pure
//! functions in [`schedule`].

mod purge;
pub mod schedule;
mod settings_refresh;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::DeletionPolicy;
use crate::im::OnScreenChat;

pub use purge::purge;

use purge::purge_loop;
use schedule::{Clock, SystemClock};
use settings_refresh::refresh_loop;

/// The clients the jobs run for, asked anew at every run (a reload may add or remove
/// clients): each client's on-screen chat, which holds the client itself.
pub type ClientList = Arc<dyn Fn() -> Vec<Arc<OnScreenChat>> + Send + Sync>;

/// The longest single sleep: waiting in steps re-reads the wall clock, so a clock
/// that is set or a machine that was suspended does not shift the runs.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Starts the jobs on the system clock and zone. They end when `stop` turns true.
pub fn spawn(
    clients: ClientList,
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
