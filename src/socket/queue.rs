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
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use tokio::sync::mpsc;

use crate::socket::args::EventArgs;
use crate::socket::deadline;
use crate::socket::gate::LoginGate;

/// The event that logs a socket in, in both namespaces: what comes before it waits
/// for it ([`LoginGate`]).
const LOGIN: &str = "login";

/// Events a single socket may have waiting; a browser that floods beyond this loses
/// the excess (logged), the others are not affected.
const QUEUE_LIMIT: usize = 1024;

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
pub fn serve_in_order<H, Fut>(socket: &SocketRef, events: &[&'static str], handle: H)
where
    H: Fn(SocketRef, Inbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::channel::<Inbound>(QUEUE_LIMIT);
    let login_seen = deadline::watch(socket);
    for &name in events {
        let tx = tx.clone();
        let sid = socket.id;
        let login_seen = (name == LOGIN).then(|| login_seen.clone());
        // A plain closure (not `async`): its body runs synchronously when the packet
        // is read, so the queue order is the arrival order.
        socket.on(name, move |Data(args): Data<EventArgs>| {
            if let Some(seen) = &login_seen {
                seen.store(true, Ordering::Relaxed);
            }
            if tx.try_send(Inbound::Event { name, args }).is_err() {
                tracing::warn!(%sid, event = name, "ignored: too many events waiting on this socket");
            }
            std::future::ready(())
        });
    }
    socket.on_disconnect(move || {
        // The disconnect marker must never be lost, or the socket's state would stay.
        let tx = tx.clone();
        async move {
            let _ = tx.send(Inbound::Disconnect).await;
        }
    });
    let socket = socket.clone();
    tokio::spawn(async move {
        let _counted = QueueTask::started();
        let mut gate = LoginGate::new(LOGIN);
        'socket: while let Some(inbound) = rx.recv().await {
            for inbound in gate.admit(inbound) {
                let last = matches!(inbound, Inbound::Disconnect);
                if !last {
                    until_connected(&socket).await;
                }
                handle(socket.clone(), inbound).await;
                if last {
                    break 'socket;
                }
            }
        }
    });
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
    Fut: Future<Output = ()> + Send,
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
