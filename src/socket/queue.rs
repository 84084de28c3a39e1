//! In-order processing of one socket's events.
//!
//! socketioxide runs every event handler as its own task, so two messages a browser
//! sends back to back could be handled — and broadcast, and stored — in the opposite
//! order. Here the handlers registered with socketioxide only queue the event
//! (synchronously, in arrival order); one task per socket then handles the queue one
//! event at a time, ending with the disconnect. Events that arrive before the socket's
//! `login` wait for it ([`LoginGate`]).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use socketioxide::SocketIo;
use socketioxide::extract::{Data, Event, SocketRef};
use socketioxide::handler::ConnectHandler;
use tokio::sync::mpsc;

use socketioxide::socket::Sid;

use crate::repeats::{Leftover, Repeats, Verdict};
use crate::socket::args::EventArgs;
use crate::socket::deadline;
use crate::socket::gate::LoginGate;

/// The event that logs a socket in, in both namespaces: what comes before it waits
/// for it ([`LoginGate`]).
const LOGIN: &str = "login";

/// Events a single socket may have waiting; a browser that floods beyond this loses
/// the excess (logged, aggregated), the others are not affected.
const QUEUE_LIMIT: usize = 1024;

/// Refused events in a row after which a socket is disconnected: no browser of
/// ILIAS sends that many without one being acted on, an attacker's flood does.
pub const REFUSED_IN_A_ROW_LIMIT: u32 = 1000;

/// Whether the handler acted on an event (counts towards [`REFUSED_IN_A_ROW_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Accepted,
    Refused,
}

/// Event-queue tasks alive in the process (the status route shows it: it must fall
/// back when browsers leave).
static QUEUE_TASKS: AtomicUsize = AtomicUsize::new(0);

/// Sockets whose event queue has a task now.
pub fn live_event_queues() -> usize {
    QUEUE_TASKS.load(Ordering::Relaxed)
}

/// Counts one queue task for as long as it lives, however it ends.
struct QueueTask;

impl QueueTask {
    fn started() -> QueueTask {
        QUEUE_TASKS.fetch_add(1, Ordering::Relaxed);
        QueueTask
    }
}

impl Drop for QueueTask {
    fn drop(&mut self) {
        QUEUE_TASKS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One thing that happened on a socket.
#[derive(Debug)]
pub enum Inbound {
    /// An event the namespace listens for, with its raw arguments.
    Event { name: &'static str, args: EventArgs },
    /// The socket closed; nothing follows.
    Disconnect,
}

/// Registers `events` on the socket and runs `handle` for each of them, and for the
/// disconnect, strictly in the order they arrived.
///
/// What an idle socket costs here is kept small (issue 12, `benches/idle.rs`): one
/// fallback handler instead of one per event, a queue of boxed events (tokio's channel
/// allocates its slots 32 at a time, and a box is 8 bytes), and the handler's future
/// boxed while it runs, so the waiting task holds only a pointer to it.
pub fn serve_in_order<H, Fut>(socket: &SocketRef, events: &'static [&'static str], handle: H)
where
    H: Fn(SocketRef, Inbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send,
{
    let (tx, mut rx) = mpsc::channel::<Box<Inbound>>(QUEUE_LIMIT);
    let login_seen = deadline::watch(socket);
    let sid = socket.id;
    let queue = tx.clone();
    // A plain closure (not `async`): its body runs synchronously when the packet is
    // read, so the queue order is the arrival order. Events the namespace does not
    // listen for are ignored, as socketioxide ignores events without a handler.
    socket.on_fallback(move |Event(event): Event, Data(args): Data<EventArgs>| {
        if let Some(&name) = events.iter().find(|&&name| name == event) {
            if name == LOGIN {
                login_seen.store(true, Ordering::Relaxed);
            }
            if queue
                .try_send(Box::new(Inbound::Event { name, args }))
                .is_err()
            {
                log_dropped(sid, name);
            }
        }
        std::future::ready(())
    });
    socket.on_disconnect(move || {
        // The disconnect marker must never be lost, or the socket's state would stay.
        let tx = tx.clone();
        async move {
            let _ = tx.send(Box::new(Inbound::Disconnect)).await;
        }
    });
    let socket = socket.clone();
    tokio::spawn(async move {
        let _counted = QueueTask::started();
        let mut gate = LoginGate::new(LOGIN);
        let mut refused_in_a_row = 0u32;
        'socket: while let Some(inbound) = rx.recv().await {
            for inbound in gate.admit(*inbound) {
                let last = matches!(inbound, Inbound::Disconnect);
                if !last {
                    until_connected(&socket).await;
                }
                let handled = Box::pin(handle(socket.clone(), inbound)).await;
                if last {
                    log_leftovers(socket.id);
                    break 'socket;
                }
                match handled {
                    Handled::Accepted => refused_in_a_row = 0,
                    Handled::Refused => {
                        refused_in_a_row += 1;
                        if refused_in_a_row == REFUSED_IN_A_ROW_LIMIT {
                            tracing::warn!(
                                sid = %socket.id,
                                refused = refused_in_a_row,
                                "disconnecting a socket whose events are all refused"
                            );
                            // The disconnect arrives through the queue as usual.
                            let _ = socket.clone().disconnect();
                        }
                    }
                }
            }
        }
    });
}

/// An event lost to a full queue, logged once and then counted ([`Repeats`]).
fn log_dropped(sid: Sid, event: &str) {
    const WHAT: &str = "too many events waiting on this socket";
    match Repeats::global().note(&sid.to_string(), WHAT) {
        Verdict::First => tracing::warn!(%sid, event, "ignored: {WHAT}"),
        Verdict::Quiet => {}
        Verdict::Summary(count) => {
            tracing::warn!(%sid, count, "ignored: {WHAT} (events since the last line)")
        }
    }
}

/// The counts of a closed socket's aggregated lines that were not logged yet.
fn log_leftovers(sid: Sid) {
    for Leftover { what, count } in Repeats::global().forget(&sid.to_string()) {
        tracing::warn!(%sid, count, "ignored: {what} (events since the last line, socket closed)");
    }
}

/// socketioxide sends CONNECT a moment before it marks the socket connected, and emits
/// to a socket not marked yet fail: an event the browser sends at once (`login`) can be
/// handled in between. Waits for the mark, boundedly (a socket that closed meanwhile
/// never gets it).
async fn until_connected(socket: &SocketRef) {
    for _ in 0..200 {
        if socket.connected() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Registers a namespace whose sockets are served by [`serve_in_order`].
///
/// The handlers are registered in a connect middleware, which socketioxide runs before
/// it acknowledges the connection: ILIAS browsers emit `login` in their `connect`
/// callback, and handlers registered after the acknowledgement (in the spawned connect
/// handler) can miss it.
///
/// `admit` runs first: an `Err` refuses the connection (the browser gets `connect_error`
/// with its text) and nothing is registered.
pub fn attach_namespace<A, AFut, E, H, Fut>(
    io: &SocketIo,
    namespace: String,
    events: &'static [&'static str],
    admit: A,
    handle: H,
) where
    A: Fn(SocketRef) -> AFut + Clone + Send + Sync + 'static,
    AFut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display + Send + 'static,
    H: Fn(SocketRef, Inbound) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send,
{
    let path = namespace.clone();
    let register = move |socket: SocketRef| {
        let admit = admit.clone();
        let handle = handle.clone();
        let namespace = namespace.clone();
        async move {
            admit(socket.clone()).await?;
            tracing::debug!(%namespace, sid = %socket.id, "socket connected");
            serve_in_order(&socket, events, handle);
            Ok::<(), E>(())
        }
    };
    io.ns(path, (async |_: SocketRef| {}).with(register));
}
