//! In-order processing of one socket's events.
//!
//! socketioxide runs every event handler as its own task, so two messages a browser
//! sends back to back could be handled — and broadcast, and stored — in the opposite
//! order. Here the handler registered with socketioxide only queues the event
//! (synchronously, in arrival order); a task then handles the queue one event at a
//! time, ending with the disconnect. The task runs only while events wait: an idle
//! socket has its (empty) queue and no task (issue 12: an idle socket's memory). At
//! most one task drains a socket's queue at a time, so the order holds. Events that
//! arrive before the socket's `login` wait for it ([`LoginGate`]).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use socketioxide::SocketIo;
use socketioxide::extract::{Data, Event, SocketRef};
use socketioxide::handler::ConnectHandler;

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

/// Sockets whose event queue has not reached its disconnect (the status route shows
/// it: it must fall back when browsers leave).
static OPEN_QUEUES: AtomicUsize = AtomicUsize::new(0);

/// Sockets whose event queue is open now.
pub fn live_event_queues() -> usize {
    OPEN_QUEUES.load(Ordering::Relaxed)
}

/// Counts one queue as open until it handled the disconnect (or went away without).
struct OpenQueue;

impl OpenQueue {
    fn opened() -> OpenQueue {
        OPEN_QUEUES.fetch_add(1, Ordering::Relaxed);
        OpenQueue
    }
}

impl Drop for OpenQueue {
    fn drop(&mut self) {
        OPEN_QUEUES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One socket's events waiting to be handled, and what the handling remembers
/// between them.
struct SocketQueue {
    waiting: VecDeque<Inbound>,
    /// A task is draining `waiting`; a new one is spawned only when not.
    draining: bool,
    gate: LoginGate,
    refused_in_a_row: u32,
    /// `None` once the disconnect was handled.
    open: Option<OpenQueue>,
}

/// The queue shared by the socket's handlers and the task draining it.
#[derive(Clone)]
struct SharedQueue(Arc<Mutex<SocketQueue>>);

impl SharedQueue {
    fn new() -> SharedQueue {
        SharedQueue(Arc::new(Mutex::new(SocketQueue {
            waiting: VecDeque::new(),
            draining: false,
            gate: LoginGate::new(LOGIN),
            refused_in_a_row: 0,
            open: Some(OpenQueue::opened()),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, SocketQueue> {
        // The lock is never held across an await or a handler; a poisoned one still
        // holds a consistent queue.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `inbound` (an event only while fewer than [`QUEUE_LIMIT`] wait; the
    /// disconnect always). `Some(inbound)` back when it was refused; `true` when the
    /// caller must start a task to drain the queue.
    fn push(&self, inbound: Inbound) -> Result<bool, Inbound> {
        let mut queue = self.lock();
        if matches!(inbound, Inbound::Event { .. }) && queue.waiting.len() >= QUEUE_LIMIT {
            return Err(inbound);
        }
        queue.waiting.push_back(inbound);
        let start = !queue.draining;
        queue.draining = true;
        Ok(start)
    }

    /// The next events to handle, through the login gate; `None` when the queue is
    /// empty, and then the draining task must end (a later push starts another).
    fn next(&self) -> Option<Vec<Inbound>> {
        let mut queue = self.lock();
        match queue.waiting.pop_front() {
            Some(inbound) => Some(queue.gate.admit(inbound)),
            None => {
                queue.draining = false;
                // An idle queue keeps no buffer of a burst it once held.
                queue.waiting.shrink_to_fit();
                None
            }
        }
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
/// fallback handler instead of one per event, an empty queue and no task while no
/// event waits, and the handler's future boxed while it runs.
pub fn serve_in_order<H, Fut>(socket: &SocketRef, events: &'static [&'static str], handle: H)
where
    H: Fn(SocketRef, Inbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send,
{
    let handle = Arc::new(handle);
    let queue = SharedQueue::new();
    let login_deadline = deadline::watch(socket);
    let left_before_login = login_deadline.clone();
    let (on_event, on_disconnect) = (queue.clone(), queue);
    let (event_handle, disconnect_handle) = (handle.clone(), handle);
    // A plain closure (not `async`): its body runs synchronously when the packet is
    // read, so the queue order is the arrival order. Events the namespace does not
    // listen for are ignored, as socketioxide ignores events without a handler.
    socket.on_fallback(
        move |socket: SocketRef, Event(event): Event, Data(args): Data<EventArgs>| {
            if let Some(&name) = events.iter().find(|&&name| name == event) {
                if name == LOGIN {
                    login_deadline.lift();
                }
                match on_event.push(Inbound::Event { name, args }) {
                    Ok(true) => spawn_drain(socket, on_event.clone(), event_handle.clone()),
                    Ok(false) => {}
                    Err(_) => log_dropped(socket.id, name),
                }
            }
            std::future::ready(())
        },
    );
    socket.on_disconnect(move |socket: SocketRef| {
        left_before_login.lift();
        // The disconnect marker is never refused, or the socket's state would stay.
        if let Ok(true) = on_disconnect.push(Inbound::Disconnect) {
            spawn_drain(socket, on_disconnect.clone(), disconnect_handle.clone());
        }
        std::future::ready(())
    });
}

/// Handles the socket's waiting events in order until none waits (or the disconnect
/// was handled).
fn spawn_drain<H, Fut>(socket: SocketRef, queue: SharedQueue, handle: Arc<H>)
where
    H: Fn(SocketRef, Inbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send,
{
    tokio::spawn(async move {
        while let Some(admitted) = queue.next() {
            for inbound in admitted {
                let last = matches!(inbound, Inbound::Disconnect);
                if !last {
                    until_connected(&socket).await;
                }
                let handled = Box::pin(handle(socket.clone(), inbound)).await;
                if last {
                    log_leftovers(socket.id);
                    queue.lock().open = None;
                    return;
                }
                let refused_in_a_row = {
                    let mut state = queue.lock();
                    state.refused_in_a_row = match handled {
                        Handled::Accepted => 0,
                        Handled::Refused => state.refused_in_a_row + 1,
                    };
                    state.refused_in_a_row
                };
                if handled == Handled::Refused && refused_in_a_row == REFUSED_IN_A_ROW_LIMIT {
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
