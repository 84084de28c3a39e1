//! The registry: every metric of the process, its name, help text and labels, and the
//! text exposition. Names carry the `ilias_chat_` prefix; counters get `_total`.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::{ClientGauges, Feature, RefusalReason, Snapshot, process};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ClientLabels {
    client: String,
}

impl ClientLabels {
    pub(super) fn new(client: &str) -> ClientLabels {
        ClientLabels {
            client: client.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FeatureLabels {
    client: String,
    feature: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EventLabels {
    client: String,
    feature: &'static str,
    event: String,
}

impl EventLabels {
    pub(super) fn new(client: &str, feature: Feature, event: &str) -> EventLabels {
        EventLabels {
            client: client.to_string(),
            feature: feature.as_str(),
            event: event.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RefusalLabels {
    client: String,
    feature: &'static str,
    event: String,
    reason: &'static str,
}

impl RefusalLabels {
    pub(super) fn new(
        client: &str,
        feature: Feature,
        event: &str,
        reason: RefusalReason,
    ) -> RefusalLabels {
        RefusalLabels {
            client: client.to_string(),
            feature: feature.as_str(),
            event: event.to_string(),
            reason: match reason {
                RefusalReason::Malformed => "malformed",
                RefusalReason::NotAllowed => "not_allowed",
            },
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct BackendLabels {
    pub(super) client: String,
    pub(super) action: String,
    pub(super) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DatabaseErrorLabels {
    pub(super) client: String,
    pub(super) kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReloadLabels {
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn write_histogram() -> Histogram {
    // 1 ms to about 65 s: a healthy database answers in milliseconds, a backlog after an
    // outage takes seconds to minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric of the process.
pub(super) struct Metrics {
    registry: Registry,
    pub(super) events_received: Family<EventLabels, Counter>,
    pub(super) events_refused: Family<RefusalLabels, Counter>,
    pub(super) deliveries: Family<EventLabels, Counter>,
    pub(super) backend_requests: Family<BackendLabels, Counter>,
    pub(super) database_errors: Family<DatabaseErrorLabels, Counter>,
    pub(super) database_reconnects: Family<ClientLabels, Counter>,
    pub(super) write_duration: Family<ClientLabels, Histogram, fn() -> Histogram>,
    pub(super) reloads: Family<ReloadLabels, Counter>,
    sockets: Family<FeatureLabels, Gauge>,
    users: Family<FeatureLabels, Gauge>,
    rooms: Family<ClientLabels, Gauge>,
    occupied_rooms: Family<ClientLabels, Gauge>,
    conversations: Family<ClientLabels, Gauge>,
    write_queue_depth: Family<ClientLabels, Gauge>,
    write_queue_oldest: Family<ClientLabels, FloatGauge>,
    database_up: Family<ClientLabels, Gauge>,
    start_time: FloatGauge,
    resident_memory: Gauge,
    /// Scrapes refresh the gauges and encode under this lock, so two scrapes never see
    /// each other's half-refreshed gauges.
    scrape: Mutex<()>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics, registered on first use.
pub(super) fn metrics() -> &'static Metrics {
    METRICS.get_or_init(Metrics::register)
}

impl Metrics {
    fn register() -> Metrics {
        let mut registry = Registry::with_prefix("ilias_chat");
        let m = Metrics {
            events_received: Family::default(),
            events_refused: Family::default(),
            deliveries: Family::default(),
            backend_requests: Family::default(),
            database_errors: Family::default(),
            database_reconnects: Family::default(),
            write_duration: Family::new_with_constructor(write_histogram),
            reloads: Family::default(),
            sockets: Family::default(),
            users: Family::default(),
            rooms: Family::default(),
            occupied_rooms: Family::default(),
            conversations: Family::default(),
            write_queue_depth: Family::default(),
            write_queue_oldest: Family::default(),
            database_up: Family::default(),
            start_time: FloatGauge::default(),
            resident_memory: Gauge::default(),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "Version of the running ilias-chat",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register_with_unit(
            "start_time",
            "When the process started, in seconds since the epoch",
            Unit::Seconds,
            m.start_time.clone(),
        );
        registry.register_with_unit(
            "resident_memory",
            "Resident set size of the process",
            Unit::Bytes,
            m.resident_memory.clone(),
        );
        registry.register(
            "reloads",
            "Reloads (SIGHUP) by result: ok, or failed (configuration invalid, nothing changed)",
            m.reloads.clone(),
        );
        registry.register(
            "sockets",
            "Connected socket.io sockets per client and namespace (feature room or im)",
            m.sockets.clone(),
        );
        registry.register(
            "users",
            "Distinct users logged in per client and namespace (feature room or im)",
            m.users.clone(),
        );
        registry.register("rooms", "Known chat rooms per client", m.rooms.clone());
        registry.register(
            "rooms_occupied",
            "Chat rooms with at least one user in them, per client",
            m.occupied_rooms.clone(),
        );
        registry.register(
            "conversations",
            "Known on-screen chat conversations per client",
            m.conversations.clone(),
        );
        registry.register(
            "events_received",
            "socket.io events received from browsers, by client, feature and event name",
            m.events_received.clone(),
        );
        registry.register(
            "events_refused",
            "Received events that were ignored, by client, feature, event and reason \
             (malformed, not_allowed)",
            m.events_refused.clone(),
        );
        registry.register(
            "deliveries",
            "Events sent to sockets (one per receiving socket), by client, feature and event",
            m.deliveries.clone(),
        );
        registry.register(
            "backend_requests",
            "Requests of ILIAS PHP to /backend, by client, action and the status PHP reads",
            m.backend_requests.clone(),
        );
        registry.register(
            "write_queue_depth",
            "Database writes waiting in the write queue, per client",
            m.write_queue_depth.clone(),
        );
        registry.register_with_unit(
            "write_queue_oldest",
            "How long the oldest waiting database write has waited, per client",
            Unit::Seconds,
            m.write_queue_oldest.clone(),
        );
        registry.register_with_unit(
            "write_duration",
            "Time from queueing a database write until the database acknowledged it",
            Unit::Seconds,
            m.write_duration.clone(),
        );
        registry.register(
            "database_up",
            "1 while the client's database answers, 0 while it is unreachable",
            m.database_up.clone(),
        );
        registry.register(
            "database_errors",
            "Database failures by client and kind (connect, write_retried, write_dropped)",
            m.database_errors.clone(),
        );
        registry.register(
            "database_reconnects",
            "Times a client's database answered again after being unreachable",
            m.database_reconnects.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Replaces the scrape-time gauges with the values of `snapshot`. Clients that are
    /// gone disappear from the gauges.
    fn refresh(&self, snapshot: &Snapshot) {
        self.start_time.set(process::start_time_seconds());
        if let Some(bytes) = process::resident_bytes() {
            self.resident_memory
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        for family in [&self.sockets, &self.users] {
            family.clear();
        }
        for family in [
            &self.rooms,
            &self.occupied_rooms,
            &self.conversations,
            &self.write_queue_depth,
            &self.database_up,
        ] {
            family.clear();
        }
        self.write_queue_oldest.clear();
        for client in &snapshot.clients {
            self.refresh_client(client);
        }
    }

    fn refresh_client(&self, c: &ClientGauges) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let labels = ClientLabels::new(&c.client);
        for (feature, sockets, users) in [
            (Feature::Room, c.room_sockets, c.room_users),
            (Feature::Im, c.im_sockets, c.im_users),
        ] {
            let labels = FeatureLabels {
                client: c.client.clone(),
                feature: feature.as_str(),
            };
            self.sockets.get_or_create(&labels).set(count(sockets));
            self.users.get_or_create(&labels).set(count(users));
        }
        self.rooms.get_or_create(&labels).set(count(c.rooms));
        self.occupied_rooms
            .get_or_create(&labels)
            .set(count(c.occupied_rooms));
        self.conversations
            .get_or_create(&labels)
            .set(count(c.conversations));
        self.write_queue_depth
            .get_or_create(&labels)
            .set(count(c.write_queue_depth));
        self.write_queue_oldest
            .get_or_create(&labels)
            .set(c.write_queue_oldest.as_secs_f64());
        self.database_up
            .get_or_create(&labels)
            .set(i64::from(c.database_up));
    }
}

/// The OpenMetrics text exposition of every metric, with the gauges taken from
/// `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let m = metrics();
    let _scrape = m
        .scrape
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    m.refresh(snapshot);
    let mut text = String::new();
    if let Err(error) = encode(&mut text, &m.registry) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    text
}
