//! What every accepted connection is allowed: whether browsers are still welcome on
//! it (the descriptor limit leaves a reserve for ILIAS PHP's backend calls), whether
//! its peer address has too many connections open already, and how long its request
//! headers may take. Also what the accept loop does when descriptors run out.
//!
//! Everything that can repeat under attack or load is logged once when it starts, then
//! as a count every [`REPORT_EVERY`], and once when it ends.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::EdgeLimits;
use crate::daemon::fds::{self, DescriptorLimit, Spares};

/// How often an ongoing condition (browsers refused, descriptors exhausted) is
/// reported while it lasts.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// How long a condition must not occur to be over (and reported as such): a limit that
/// is reached again and again within this is one episode, one line.
const QUIET_AFTER: Duration = Duration::from_secs(30);

/// How long after its last occurrence a condition is still shown in `STATUS=`.
const STATUS_RECENT: Duration = Duration::from_secs(10);

/// The header timeout of connections accepted beyond the browser capacity: ILIAS PHP
/// sends its request at once, and an idle connection there takes a descriptor from
/// the backend reserve.
const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection limits of the process, shared by every accept loop.
#[derive(Debug)]
pub struct Edge {
    limits: RwLock<EdgeLimits>,
    descriptors: DescriptorLimit,
    /// Connections that may be open before new ones are kept for backend calls.
    capacity: u64,
    /// Connections open now (upgraded websockets included).
    open: AtomicU64,
    per_address: Mutex<HashMap<IpAddr, u32>>,
    spares: Mutex<Spares>,
    /// Shown in `STATUS=` while it holds: the limit is lower than the configuration needs.
    shortfall: Option<String>,
    full: Mutex<Episode>,
    exhausted: Mutex<Episode>,
    crowded: Mutex<Episode>,
}

impl Edge {
    /// Raises the descriptor limit, works out the browser capacity for `clients`
    /// ILIAS clients, warns when the limit is too low for them, and opens the spares.
    pub fn start(limits: EdgeLimits, clients: usize) -> Arc<Edge> {
        let descriptors = DescriptorLimit::raise();
        let open_now = fds::open_now();
        Self::new(limits, descriptors, open_now, clients)
    }

    /// [`Edge::start`] with the limit already known (tests).
    pub fn new(
        limits: EdgeLimits,
        descriptors: DescriptorLimit,
        open_now: u64,
        clients: usize,
    ) -> Arc<Edge> {
        let capacity = descriptors.browser_capacity(open_now, clients);
        if let Some(from) = descriptors.raised_from {
            tracing::info!(
                from,
                to = descriptors.soft,
                "raised the open file limit to the hard limit"
            );
        }
        let shortfall = descriptors.shortfall(open_now, clients).map(|needed| {
            tracing::warn!(
                limit = descriptors.soft,
                needed,
                browsers = capacity,
                "the open file limit is lower than {} ILIAS client(s) need for {} browsers; \
                 raise LimitNOFILE= (systemd) or ulimit -n",
                clients,
                fds::MIN_BROWSERS
            );
            format!(
                "open file limit {} below {needed}: room for {capacity} browsers",
                descriptors.soft
            )
        });
        tracing::info!(
            limit = descriptors.soft,
            browsers = capacity,
            backend_reserve = fds::BACKEND_RESERVE,
            "connection capacity"
        );
        Arc::new(Edge {
            limits: RwLock::new(limits),
            descriptors,
            capacity,
            open: AtomicU64::new(0),
            per_address: Mutex::new(HashMap::new()),
            spares: Mutex::new(Spares::new()),
            shortfall,
            full: Mutex::new(Episode::default()),
            exhausted: Mutex::new(Episode::default()),
            crowded: Mutex::new(Episode::default()),
        })
    }

    /// Applies server.cfg's limits after a reload (new connections only).
    pub fn set_limits(&self, limits: EdgeLimits) {
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    fn limits(&self) -> EdgeLimits {
        *self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The descriptor limit in effect.
    pub fn descriptors(&self) -> DescriptorLimit {
        self.descriptors
    }

    /// How many connections may be open before browsers are refused.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// What `STATUS=` should add, if anything.
    pub fn status_note(&self) -> Option<String> {
        let refusing = lock(&self.full).recent() || lock(&self.exhausted).recent();
        match (refusing, &self.shortfall) {
            (true, _) => Some(format!(
                "connection limit reached ({} open): browsers refused, backend served",
                self.open_connections()
            )),
            (false, Some(shortfall)) => Some(shortfall.clone()),
            (false, None) => None,
        }
    }

    /// Decides about a connection just accepted: `None` closes it at once (its address
    /// has too many open), otherwise its ticket, to be kept as long as the connection.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Ticket> {
        let limits = self.limits();
        let address = match limits.max_connections_per_address {
            Some(max) if !is_local_proxy(peer.ip()) => {
                let ip = peer.ip();
                let mut counts = lock(&self.per_address);
                let count = counts.entry(ip).or_insert(0);
                if *count >= max {
                    let report = lock(&self.crowded).hit();
                    drop(counts);
                    match report {
                        Report::Began => tracing::warn!(
                            %ip,
                            max,
                            "connection refused: this address has max_connections_per_address open; \
                             further refusals are counted"
                        ),
                        Report::Still(count) => tracing::warn!(
                            count,
                            "connections refused by max_connections_per_address in the last minute"
                        ),
                        Report::Quiet => {}
                    }
                    return None;
                }
                *count += 1;
                drop(counts);
                if let Some(count) = lock(&self.crowded).end() {
                    tracing::info!(count, "max_connections_per_address refused connections");
                }
                Some(ip)
            }
            _ => None,
        };
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let spares_full = {
            let mut spares = lock(&self.spares);
            spares.refill();
            spares.is_full()
        };
        let browsers_refused = open > self.capacity || !spares_full;
        if browsers_refused {
            match lock(&self.full).hit() {
                Report::Began => tracing::warn!(
                    open,
                    capacity = self.capacity,
                    limit = self.descriptors.soft,
                    "connection limit reached: new browsers get 503, ILIAS backend calls are \
                     still served; refusals are counted"
                ),
                Report::Still(count) => tracing::warn!(
                    count,
                    open,
                    "connections beyond the browser capacity in the last minute"
                ),
                Report::Quiet => {}
            }
        } else if let Some(count) = lock(&self.full).end() {
            tracing::info!(
                count,
                open,
                "accepting browsers again after the connection limit"
            );
        }
        Some(Ticket {
            edge: self.clone(),
            address,
            browsers_refused,
            header_timeout: if browsers_refused {
                limits.header_timeout.min(RESERVE_HEADER_TIMEOUT)
            } else {
                limits.header_timeout
            },
        })
    }

    /// `accept` failed. True when it should be tried again at once (a spare
    /// descriptor was given up for it); false when the loop should pause first.
    pub fn accept_failed(&self, error: &io::Error) -> bool {
        let out_of_descriptors = matches!(
            error.raw_os_error(),
            Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE
        );
        if out_of_descriptors && lock(&self.spares).release_one() {
            return true;
        }
        match lock(&self.exhausted).hit() {
            Report::Began => tracing::warn!(
                %error,
                open = self.open_connections(),
                limit = self.descriptors.soft,
                "accept failed; retrying every 100 ms, failures are counted"
            ),
            Report::Still(count) => tracing::warn!(count, "accept failures in the last minute"),
            Report::Quiet => {}
        }
        false
    }

    /// `accept` worked again.
    pub fn accepted(&self) {
        if let Some(count) = lock(&self.exhausted).end() {
            tracing::info!(count, "accepting connections again after failures");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// 127.0.0.1 and ::1 are a reverse proxy or ILIAS PHP on the same host: one address
/// for everybody, never bounded per address. (Other 127/8 addresses are bounded like
/// any peer.)
fn is_local_proxy(ip: IpAddr) -> bool {
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    match ip {
        IpAddr::V4(v4) => v4 == localhost,
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped() == Some(localhost),
    }
}

/// One connection's share of the limits; given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    edge: Arc<Edge>,
    /// The address counted against `max_connections_per_address`.
    address: Option<IpAddr>,
    browsers_refused: bool,
    header_timeout: Duration,
}

impl Ticket {
    /// Whether socket.io requests on this connection get 503 (it was accepted from the
    /// backend reserve).
    pub fn browsers_refused(&self) -> bool {
        self.browsers_refused
    }

    /// How long each request header on this connection may take, the wait for the
    /// next request of a keep-alive connection included.
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.edge.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(ip) = self.address {
            let mut counts = lock(&self.edge.per_address);
            if let Some(count) = counts.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&ip);
                }
            }
        }
    }
}

/// Closes a connection from elsewhere (the login deadline of the socket.io socket it
/// carries): its next read or write fails, which ends hyper's or the websocket's task.
/// Carried into socket.io's request extensions so a socket can find its connection.
#[derive(Debug, Clone, Default)]
pub struct Closer(Arc<CloserState>);

#[derive(Debug, Default)]
struct CloserState {
    closed: AtomicBool,
    /// The task reading the connection, woken by [`Closer::close`].
    reader: Mutex<Option<Waker>>,
}

impl Closer {
    /// Closes the connection.
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        if let Some(reader) = lock(&self.0.reader).take() {
            reader.wake();
        }
    }

    fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    fn closed_error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the server")
    }
}

/// A connection's stream with its [`Ticket`] and [`Closer`]: the ticket lives as long
/// as the stream, which outlives hyper's connection task when it is upgraded to a
/// websocket.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    closer: Closer,
    _ticket: Ticket,
}

impl<S> Tracked<S> {
    /// Ties `ticket` to `inner`.
    pub fn new(inner: S, ticket: Ticket) -> Tracked<S> {
        Tracked {
            inner,
            closer: Closer::default(),
            _ticket: ticket,
        }
    }

    /// What closes this connection from elsewhere.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closer.is_closed() {
            return Poll::Ready(Err(Closer::closed_error()));
        }
        {
            let mut reader = lock(&self.closer.0.reader);
            if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *reader = Some(cx.waker().clone());
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closer.is_closed() {
            return Poll::Ready(Err(Closer::closed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.closer.is_closed() {
            return Poll::Ready(Err(Closer::closed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What to log about one more occurrence of a condition.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// The first one: say what happens.
    Began,
    /// A count since the last report is due.
    Still(u64),
    /// Nothing now.
    Quiet,
}

/// A condition that can repeat thousands of times a second, reported in aggregate.
#[derive(Debug, Default)]
struct Episode {
    active: bool,
    /// Occurrences since the last report.
    count: u64,
    /// Occurrences since the start.
    total: u64,
    last_report: Option<Instant>,
    last_hit: Option<Instant>,
}

impl Episode {
    fn hit(&mut self) -> Report {
        self.hit_at(Instant::now())
    }

    fn hit_at(&mut self, now: Instant) -> Report {
        self.last_hit = Some(now);
        if !self.active {
            self.active = true;
            self.count = 0;
            self.total = 1;
            self.last_report = Some(now);
            return Report::Began;
        }
        self.total += 1;
        self.count += 1;
        match self.last_report {
            Some(last) if now.duration_since(last) < REPORT_EVERY => Report::Quiet,
            _ => {
                self.last_report = Some(now);
                Report::Still(std::mem::take(&mut self.count))
            }
        }
    }

    /// Whether it occurred lately.
    fn recent(&self) -> bool {
        self.active
            && self
                .last_hit
                .is_some_and(|hit| hit.elapsed() < STATUS_RECENT)
    }

    /// The condition has not occurred for [`QUIET_AFTER`]: it is over, and this is how
    /// many times it occurred. `None` while it goes on (or never began), so a
    /// condition that flickers is still reported once.
    fn end(&mut self) -> Option<u64> {
        self.end_at(Instant::now())
    }

    fn end_at(&mut self, now: Instant) -> Option<u64> {
        let quiet = self
            .last_hit
            .is_none_or(|hit| now.saturating_duration_since(hit) >= QUIET_AFTER);
        if !self.active || !quiet {
            return None;
        }
        self.active = false;
        Some(std::mem::take(&mut self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_is_reported_once_then_counted() {
        let start = Instant::now();
        let mut episode = Episode::default();
        assert_eq!(episode.hit_at(start), Report::Began);
        for i in 1..10_000u32 {
            let at = start + Duration::from_millis(u64::from(i) % 1000);
            assert_eq!(episode.hit_at(at), Report::Quiet);
        }
        let last = start + REPORT_EVERY;
        assert_eq!(episode.hit_at(last), Report::Still(10_000));
        assert_eq!(episode.end_at(last + Duration::from_secs(1)), None);
        assert_eq!(episode.hit_at(last + Duration::from_secs(2)), Report::Quiet);
        let over = last + Duration::from_secs(2) + QUIET_AFTER;
        assert_eq!(episode.end_at(over), Some(10_002));
        assert_eq!(episode.end_at(over), None);
        assert_eq!(episode.hit_at(over), Report::Began);
    }

    fn edge(capacity_limit: u64, per_address: Option<u32>) -> Arc<Edge> {
        let limits = EdgeLimits {
            max_connections_per_address: per_address,
            ..EdgeLimits::default()
        };
        let descriptors = DescriptorLimit {
            soft: capacity_limit,
            hard: capacity_limit,
            raised_from: None,
        };
        Edge::new(limits, descriptors, 0, 0)
    }

    #[test]
    fn browsers_are_refused_beyond_the_capacity_and_welcome_again_after() {
        let edge = edge(fds::BACKEND_RESERVE + 64 + 2, None);
        assert_eq!(edge.capacity(), 2);
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        let first = edge.admit(peer).expect("first");
        let second = edge.admit(peer).expect("second");
        assert!(!first.browsers_refused() && !second.browsers_refused());
        let third = edge.admit(peer).expect("third, from the reserve");
        assert!(third.browsers_refused());
        assert!(third.header_timeout() <= RESERVE_HEADER_TIMEOUT);
        assert!(edge.status_note().is_some());
        drop((first, third));
        assert_eq!(edge.open_connections(), 1);
        assert!(!edge.admit(peer).expect("again").browsers_refused());
        assert_eq!(edge.open_connections(), 1, "the ticket was dropped");
    }

    #[test]
    fn per_address_limit_spares_the_local_proxy() {
        let edge = edge(100_000, Some(2));
        let remote: SocketAddr = "192.0.2.7:5000".parse().expect("address");
        let other: SocketAddr = "192.0.2.8:5000".parse().expect("address");
        let a = edge.admit(remote).expect("a");
        let _b = edge.admit(remote).expect("b");
        assert!(edge.admit(remote).is_none());
        assert!(edge.admit(other).is_some());
        drop(a);
        assert!(edge.admit(remote).is_some());
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().expect("address");
        let v6: SocketAddr = "[::1]:5000".parse().expect("address");
        let held: Vec<Ticket> = (0..5)
            .filter_map(|_| edge.admit(local))
            .chain((0..5).filter_map(|_| edge.admit(mapped)))
            .chain((0..5).filter_map(|_| edge.admit(v6)))
            .collect();
        assert_eq!(held.len(), 15);
        let other_loopback: SocketAddr = "127.0.0.2:5000".parse().expect("address");
        let _c = edge.admit(other_loopback).expect("c");
        let _d = edge.admit(other_loopback).expect("d");
        assert!(edge.admit(other_loopback).is_none());
    }
}
