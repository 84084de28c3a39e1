//! Signals: SIGHUP asks for a reload; the first SIGTERM or SIGINT for a graceful stop;
//! a second stop signal ends the process at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// Spawns the signal watcher. `stop` turns true on the first stop signal; every SIGHUP
/// sends on `reload` (when given; otherwise SIGHUP is ignored).
pub fn watch_signals(
    stop: watch::Sender<bool>,
    reload: Option<mpsc::UnboundedSender<()>>,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received, stopping"); break; }
                _ = int.recv() => { tracing::info!("SIGINT received, stopping"); break; }
                _ = hup.recv() => match &reload {
                    Some(reload) => { let _ = reload.send(()); }
                    None => tracing::info!("SIGHUP ignored (nothing to reload)"),
                },
            }
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
