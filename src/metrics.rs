//! Counters and the latency histogram, exposed in Prometheus' text format.
//!
//! Owns: every metric's name (all under `clickedge_`) and help text.
//!
//! Invariants: the request path only increments handles resolved here at
//! start-up (an atomic add each); it never looks a label set up by name.
//! One [`Metrics`] per edge, registered in its own registry, so two edges in
//! one process (tests, or a host proxy embedding two plugins) do not clash.

use crate::click::{ClickError, Refusal};
use crate::closed_set::closed_set;
use crate::ivt::{Action, Reason, Verdict};
use std::sync::Arc;
use strum::{EnumCount, VariantArray};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

closed_set! {
    /// Why a request was refused before anything else looked at it: the
    /// label of `clickedge_bad_requests_total`.
    pub enum BadRequest {
        /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
        MissingHost,
        /// More than one `Content-Length`, or one that is not a number.
        BadContentLength,
    }
}

impl BadRequest {
    /// The short reason sent on the wire.
    pub fn message(self) -> &'static str {
        match self {
            BadRequest::MissingHost => "missing Host header\n",
            BadRequest::BadContentLength => "bad Content-Length\n",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    /// `[reason index + 1 (0 = valid)][action]`
    clicks: Arc<StripedFamily>,
    /// Indexed like [`Refusal::VARIANTS`].
    refused: Vec<IntCounter>,
    /// Indexed like [`BadRequest::ALL`].
    bad_requests: Vec<IntCounter>,
    pub limits: LimitHits,
    pub bad_method: IntCounter,
    pub unanswered: IntCounter,
    pub latency: Histogram,
    /// Striped, like `clicks`: every click adds to it.
    events_queued: Arc<StripedFamily>,
    pub events_dropped: IntCounter,
    pub events_spooled: IntCounter,
    pub spool_write_errors: IntCounter,
    pub spool_syncs: IntCounter,
    pub spool_files: IntGauge,
    pub reloads_ok: IntCounter,
    pub reloads_failed: IntCounter,
    pub spool_bytes: IntGauge,
    /// The rules bundle in force: its version, its age in seconds, and
    /// fetches that failed or bundles refused, by reason.
    pub rules_version: IntGauge,
    pub rules_age: IntGauge,
    pub rules_failures: prometheus::IntCounterVec,
    pub spool_quota_hits: IntCounter,
    pub spool_damaged: IntCounter,
    pub events_shipped: IntCounter,
    pub sink_errors: IntCounter,
    pub sink_rejected: IntCounter,
    pub ship_lag: prometheus::Gauge,
    /// The conversions' spool and shipper (`clickedge_conversions_*`).
    pub conversion_stream: StreamCounters,
    /// Conversions stored (a 202 that wrote), repeats answered without
    /// writing, and requests refused by reason.
    pub conversions_accepted: IntCounter,
    pub conversions_duplicate: IntCounter,
    pub conversions_refused: prometheus::IntCounterVec,
}

/// What a spool stream's writer and shipper count: the clicks' counters
/// keep their names (`clickedge_events_*`, `clickedge_spool_*`), the
/// conversions' are `clickedge_conversions_*`. Clones share the counters.
#[derive(Clone)]
pub struct StreamCounters {
    pub dropped: IntCounter,
    pub spooled: IntCounter,
    pub write_errors: IntCounter,
    /// fsyncs of the stream's files: conversions per sync is how well
    /// concurrent callers share them.
    pub syncs: IntCounter,
    pub files: IntGauge,
    pub bytes: IntGauge,
    pub quota_hits: IntCounter,
    pub damaged: IntCounter,
    pub shipped: IntCounter,
    pub sink_errors: IntCounter,
    pub sink_rejected: IntCounter,
    pub ship_lag: prometheus::Gauge,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    c
}

closed_set! {
    /// What triggered; the label of `clickedge_limit_hits_total`.
    pub enum Limit {
        HeaderBytes,
        Headers,
        HeaderTimeout,
        IdleTimeout,
        RequestsPerConnection,
        /// A request body not in full within `limits.body_timeout_seconds`.
        BodyTimeout,
        /// A connection past `server.max_connections` (or, on the metrics
        /// listener, `metrics.max_connections`), closed at once.
        Connections,
        /// A TLS handshake not done within `limits.header_timeout_seconds`
        /// of the connection's start: closed.
        HandshakeTimeout,
    }
}

/// `clickedge_limit_hits_total`, one counter a [`Limit`], resolved once
/// (registered by [`Metrics`]). The limits themselves are
/// `crate::edge::limits`' and `crate::edge::connections`'.
#[derive(Clone)]
pub struct LimitHits(pub Arc<[prometheus::IntCounter; Limit::COUNT]>);

impl LimitHits {
    pub fn hit(&self, l: Limit) {
        self.0[l.index()].inc();
    }
}

/// Slots of a striped counter: each worker thread adds to its own (a
/// thread's slot is its start order modulo this), so no two threads of up
/// to this many share a cache line (`benches/contention.rs`: one shared
/// atomic add costs 6.5 ns from one thread, 36.7 ns from two).
const STRIPES: usize = 32;

/// One counter slot on its own cache line (two lines: adjacent-line
/// prefetch pairs them).
#[repr(align(128))]
#[derive(Default)]
struct Stripe(std::sync::atomic::AtomicU64);

fn my_stripe() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
    }
    MINE.with(|m| *m)
}

/// Counters with fixed label sets (cells) that many threads add to, summed
/// when `/metrics` is scraped: a counter family for the click path.
struct StripedFamily {
    desc: prometheus::core::Desc,
    name: String,
    help: String,
    /// Each cell's label pairs, sorted by name.
    labels: Vec<Vec<(&'static str, &'static str)>>,
    /// `cell * STRIPES + stripe`
    slots: Box<[Stripe]>,
}

impl StripedFamily {
    fn register(
        registry: &Registry,
        name: &str,
        help: &str,
        labels: Vec<Vec<(&'static str, &'static str)>>,
    ) -> Arc<StripedFamily> {
        let label_names = labels
            .first()
            .map(|l| l.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default();
        let desc = prometheus::core::Desc::new(
            name.to_string(),
            help.to_string(),
            label_names,
            Default::default(),
        )
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
        let family = Arc::new(StripedFamily {
            desc,
            name: name.to_string(),
            help: help.to_string(),
            slots: (0..labels.len() * STRIPES)
                .map(|_| Stripe::default())
                .collect(),
            labels,
        });
        registry
            .register(Box::new(Collect(family.clone())))
            .unwrap_or_else(|e| panic!("metric {name}: {e}"));
        family
    }

    fn inc(&self, cell: usize) {
        if let Some(s) = self.slots.get(cell * STRIPES + my_stripe()) {
            s.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn get(&self, cell: usize) -> u64 {
        self.slots[cell * STRIPES..(cell + 1) * STRIPES]
            .iter()
            .map(|s| s.0.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }
}

/// The registry's handle on a [`StripedFamily`].
struct Collect(Arc<StripedFamily>);

impl prometheus::core::Collector for Collect {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use prometheus::proto::{Counter, LabelPair, Metric, MetricFamily, MetricType};
        let f = &self.0;
        let mut family = MetricFamily::default();
        family.set_name(f.name.clone());
        family.set_help(f.help.clone());
        family.set_field_type(MetricType::COUNTER);
        for (cell, labels) in f.labels.iter().enumerate() {
            let mut m = Metric::default();
            m.set_label(
                labels
                    .iter()
                    .map(|(k, v)| {
                        let mut l = LabelPair::default();
                        l.set_name(k.to_string());
                        l.set_value(v.to_string());
                        l
                    })
                    .collect(),
            );
            let mut c = Counter::default();
            c.set_value(f.get(cell) as f64);
            m.set_counter(c);
            family.mut_metric().push(m);
        }
        vec![family]
    }
}

/// A counter family with one label, registered.
fn counter_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let v = IntCounterVec::new(Opts::new(name, help), &[label])
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    registry
        .register(Box::new(v.clone()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    v
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Builds and registers every metric. The names are constants, so a
    /// failure here is a programming error caught by the tests.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // Cells `[reason index + 1 (0 = valid)][action]`, labels sorted by name.
        let reasons = std::iter::once(None).chain(Reason::ALL.iter().copied().map(Some));
        let cells = reasons
            .flat_map(|r| {
                Action::ALL.iter().map(move |a| {
                    vec![
                        ("action", a.as_str()),
                        ("reason", r.map_or("", Reason::as_str)),
                        ("verdict", Verdict::of(r).as_str()),
                    ]
                })
            })
            .collect();
        let clicks = StripedFamily::register(
            &registry,
            "clickedge_clicks_total",
            "Click and beacon requests that passed the signature check, by verdict, reason and action.",
            cells,
        );
        let events_queued = StripedFamily::register(
            &registry,
            "clickedge_events_queued_total",
            "Click events handed to the spool writer's queue.",
            vec![vec![]],
        );
        let refused_vec = counter_vec(
            &registry,
            "clickedge_refused_total",
            "Click and beacon requests refused with a 4xx before any redirect, by reason.",
            "reason",
        );
        let refused = Refusal::VARIANTS
            .iter()
            .map(|r| refused_vec.with_label_values(&[r.label()]))
            .collect();
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "clickedge_click_latency_seconds",
                "Time from reading a click's request header to its answer being written, /c and /b.",
            )
            .buckets(vec![
                0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        registry
            .register(Box::new(latency.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let spool_files = IntGauge::new(
            "clickedge_spool_files",
            "Spool files under <data_dir>/clicks/ (written and not yet shipped and deleted).",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        registry
            .register(Box::new(spool_files.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let reloads = counter_vec(
            &registry,
            "clickedge_reloads_total",
            "Policy reloads (keys, hosts, lists) by result; a failed one keeps the old policy.",
            "result",
        );
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap_or_else(|e| panic!("{e}"));
            registry
                .register(Box::new(g.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            g
        };
        let spool_bytes = gauge(
            "clickedge_spool_bytes",
            "Bytes of spool files on disk (written, not yet shipped and deleted).",
        );
        let ship_lag = prometheus::Gauge::new(
            "clickedge_ship_lag_seconds",
            "Age of the oldest event not yet acknowledged by the sink (0 when caught up).",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        registry
            .register(Box::new(ship_lag.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let bad_vec = counter_vec(
            &registry,
            "clickedge_bad_requests_total",
            "Requests refused with a 400 before routing (no Host in HTTP/1.1, a bad or doubled Content-Length), by reason.",
            "reason",
        );
        let bad_requests = BadRequest::ALL
            .iter()
            .map(|b| bad_vec.with_label_values(&[b.as_str()]))
            .collect();
        let limits_vec = counter_vec(
            &registry,
            "clickedge_limit_hits_total",
            "Requests refused (431) or connections closed by a limit (limits.* in the config), by limit.",
            "limit",
        );
        let limits = LimitHits(Arc::new(std::array::from_fn(|i| {
            limits_vec.with_label_values(&[Limit::ALL[i].as_str()])
        })));
        let rules_version = gauge(
            "clickedge_rules_bundle_version",
            "Version of the rules bundle in force (0: none).",
        );
        let rules_age = gauge(
            "clickedge_rules_bundle_age_seconds",
            "Seconds since the rules bundle in force was built, as of the last poll.",
        );
        let rules_failures = counter_vec(
            &registry,
            "clickedge_rules_fetch_failures_total",
            "Rules bundle polls that failed (unreachable, http_status, store) or bundles refused (invalid: unsigned or tampered; unloadable: a list the edge cannot load; too_large: over 64 MiB; stale: an older version), by reason.",
            "reason",
        );
        for r in [
            "unreachable",
            "http_status",
            "invalid",
            "unloadable",
            "too_large",
            "stale",
            "store",
        ] {
            rules_failures.with_label_values(&[r]);
        }
        let conversion_stream = StreamCounters {
            dropped: counter(&registry, "clickedge_conversions_spool_refused_total", "Conversions the spool could not write (quota or disk): answered 503, never acknowledged."),
            spooled: counter(&registry, "clickedge_conversions_spooled_total", "Conversion records written to <data_dir>/conversions/."),
            write_errors: counter(&registry, "clickedge_conversions_spool_write_errors_total", "Failed writes or syncs of conversion spool files."),
            syncs: counter(&registry, "clickedge_conversions_spool_syncs_total", "fsyncs of conversion spool files: one serves every conversion waiting when it starts."),
            files: gauge("clickedge_conversions_spool_files", "Spool files under <data_dir>/conversions/ not yet shipped and deleted."),
            bytes: gauge("clickedge_conversions_spool_bytes", "Bytes of conversion spool files on disk."),
            quota_hits: counter(&registry, "clickedge_conversions_spool_quota_hits_total", "Conversion writes refused because the conversions spool reached its quota."),
            damaged: counter(&registry, "clickedge_conversions_spool_damaged_records_total", "Conversion records skipped when read back: checksum mismatch or torn tail."),
            shipped: counter(&registry, "clickedge_conversions_shipped_total", "Conversion records acknowledged by the central sink."),
            sink_errors: counter(&registry, "clickedge_conversions_sink_errors_total", "Failed sends of conversions to the sink; each is retried."),
            sink_rejected: counter(&registry, "clickedge_conversions_sink_rejected_total", "Sends of conversions the sink refused; retried, kept on disk, and logged."),
            ship_lag: {
                let g = prometheus::Gauge::new("clickedge_conversions_ship_lag_seconds", "Age of the oldest conversion not yet acknowledged by the sink (0 when caught up).").unwrap_or_else(|e| panic!("{e}"));
                registry.register(Box::new(g.clone())).unwrap_or_else(|e| panic!("{e}"));
                g
            },
        };
        let conversions_refused = counter_vec(
            &registry,
            "clickedge_conversions_refused_total",
            "Conversion requests refused, by reason (unauthorized, unknown_event, personal_data, outside_window...); nothing of them is stored.",
            "reason",
        );
        Metrics {
            conversion_stream,
            conversions_refused,
            conversions_accepted: counter(&registry, "clickedge_conversions_accepted_total", "Conversions stored and acknowledged (202, written and synced)."),
            conversions_duplicate: counter(&registry, "clickedge_conversions_duplicate_total", "Conversions this edge had already stored: answered 202 with duplicate true, not written again."),
            bad_requests,
            limits,
            spool_bytes,
            rules_version,
            rules_age,
            rules_failures,
            ship_lag,
            spool_quota_hits: counter(&registry, "clickedge_spool_quota_hits_total", "Batches of new events dropped because the spool reached events.max_spool_bytes."),
            spool_damaged: counter(&registry, "clickedge_spool_damaged_records_total", "Spool records skipped when read back: checksum mismatch or torn tail."),
            events_shipped: counter(&registry, "clickedge_events_shipped_total", "Events acknowledged by the central sink."),
            sink_errors: counter(&registry, "clickedge_sink_errors_total", "Failed sends to the sink (network errors, 5xx); each is retried."),
            sink_rejected: counter(&registry, "clickedge_sink_rejected_total", "Sends the sink refused with a 4xx or a redirect; retried, kept on disk, and logged: fix the sink."),
            reloads_ok: reloads.with_label_values(&["ok"]),
            reloads_failed: reloads.with_label_values(&["failed"]),
            clicks,
            refused,
            bad_method: counter(
                &registry,
                "clickedge_bad_method_total",
                "Requests on /c or /b with a method they do not take (405).",
            ),
            unanswered: counter(
                &registry,
                "clickedge_clicks_unanswered_total",
                "Answers on /c and /b that could not be written (client gone); a decided click is still logged.",
            ),
            latency,
            events_queued,
            events_dropped: counter(
                &registry,
                "clickedge_events_dropped_total",
                "Click events dropped because the queue was full or closed.",
            ),
            events_spooled: counter(
                &registry,
                "clickedge_events_spooled_total",
                "Click events written to a spool file (counted when flushed to the OS; one the disk refuses first counts as dropped).",
            ),
            spool_write_errors: counter(
                &registry,
                "clickedge_spool_write_errors_total",
                "Failed writes or syncs of spool files.",
            ),
            spool_syncs: counter(
                &registry,
                "clickedge_spool_syncs_total",
                "fsyncs of click spool files (at least every events.fsync_interval_ms while events are written).",
            ),
            spool_files,
            registry,
        }
    }

    /// The click stream's counters, under their own names.
    pub fn click_stream(&self) -> StreamCounters {
        StreamCounters {
            dropped: self.events_dropped.clone(),
            spooled: self.events_spooled.clone(),
            write_errors: self.spool_write_errors.clone(),
            syncs: self.spool_syncs.clone(),
            files: self.spool_files.clone(),
            bytes: self.spool_bytes.clone(),
            quota_hits: self.spool_quota_hits.clone(),
            damaged: self.spool_damaged.clone(),
            shipped: self.events_shipped.clone(),
            sink_errors: self.sink_errors.clone(),
            sink_rejected: self.sink_rejected.clone(),
            ship_lag: self.ship_lag.clone(),
        }
    }

    pub fn click(&self, reason: Option<Reason>, action: Action) {
        let r = reason.map_or(0, |r| r.index() + 1);
        self.clicks.inc(r * Action::COUNT + action as usize);
    }

    /// One event handed to the spool writer's queue.
    pub fn event_queued(&self) {
        self.events_queued.inc(0);
    }

    /// Events handed to the queue so far.
    pub fn events_queued(&self) -> u64 {
        self.events_queued.get(0)
    }

    pub fn bad_request(&self, b: BadRequest) {
        self.bad_requests[b.index()].inc();
    }

    pub fn refused(&self, e: ClickError) {
        self.refused[e.refusal() as usize].inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8192);
        // Encoding into a Vec only fails on malformed metric families, which
        // the registry does not build.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_and_counts() {
        let m = Metrics::new();
        m.click(None, Action::Redirected);
        m.click(Some(Reason::Duplicate), Action::Beacon);
        m.refused(ClickError::BadSignature);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(
            "clickedge_clicks_total{action=\"redirected\",reason=\"\",verdict=\"valid\"} 1"
        ));
        assert!(text.contains(
            "clickedge_clicks_total{action=\"beacon\",reason=\"duplicate\",verdict=\"invalid\"} 1"
        ));
        assert!(text.contains("clickedge_refused_total{reason=\"bad_signature\"} 1"));
        assert!(text.contains("clickedge_refused_total{reason=\"bad_landing\"} 0"));
        assert!(text.contains("# HELP clickedge_events_dropped_total"));
        // Two edges in one process do not clash.
        let _second = Metrics::new();
    }
}
