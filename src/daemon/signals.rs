//! Stop signals: the first SIGTERM or SIGINT asks for a graceful stop; a second one
//! ends the process at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Spawns the signal watcher; `stop` turns true on the first signal.
pub fn watch_stop_signals(stop: watch::Sender<bool>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, stopping"),
            _ = int.recv() => tracing::info!("SIGINT received, stopping"),
        }
        let _ = stop.send(true);
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("second stop signal: exiting immediately");
        std::process::exit(1);
    });
    Ok(())
}
