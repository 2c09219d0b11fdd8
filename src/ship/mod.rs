//! The shipper: forwards the spool to the central sink, in batches, and
//! deletes local data only after the sink acknowledged it (docs/contract.md §6).
//!
//! ```text
//! clicks/*.ndjson ──read_batch──► gzip ──POST──► sink ──2xx──► position saved
//!                                                      └─else─► backoff, retry
//! a sealed segment read to its end and acknowledged ──► deleted
//! ```
//!
//! Owns: `<data_dir>/ship.pos` (the position) and `<data_dir>/ship.lock`
//! (one shipper per data dir: during a graceful upgrade the old and new
//! processes both run, and only the lock holder ships).
//!
//! Invariants:
//! - The position moves, and a segment is deleted, only after the sink
//!   answered 2xx for everything before it. A crash between the sink's
//!   answer and the saved position replays that batch: sinks must be
//!   idempotent on `click_id` (the ClickHouse table is a
//!   ReplacingMergeTree on it; see docs/storage.md).
//! - The shipper runs on its own thread, never on the request path. It
//!   retries with exponential backoff and full jitter while the sink is
//!   down or refuses; nothing is ever dropped for the sink's sake (the
//!   spool quota is the only bound, and it refuses new events instead).
//! - On shutdown it finishes the send in flight (or gives up on it during
//!   an outage: the batch stays on disk for the next start).

pub(crate) mod kafka;
pub(crate) mod sink;
pub(crate) mod sink_url;
pub(crate) mod sinks;

use crate::config::{Problems, SinkConfig};
use crate::metrics::{Metrics, StreamCounters};
use crate::spool::reader::{self, ActiveSegment, Position};
pub(crate) use sink::{Sink, SinkError};
pub(crate) use sink_url::SinkUrl;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// `<data_dir>/clicks`
    pub dir: PathBuf,
    /// `<data_dir>`: where the position and the lock live.
    pub state_dir: PathBuf,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub poll_interval: Duration,
    /// Least time between two batches handed to the sink.
    pub min_insert_interval: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

impl ShipConfig {
    /// From the `sink` section and the data dir: how to ship (the sink's
    /// URL may come from `--sink`, so the timings are checked without one).
    pub fn from_config(s: &SinkConfig, data_dir: &Path) -> Result<ShipConfig, Problems> {
        let mut p = Problems::default();
        let default = SinkConfig::default();
        if s.timeout_seconds == 0 {
            p.push(
                "sink.timeout_seconds",
                format!("must be at least 1 (default {})", default.timeout_seconds),
            );
        }
        if s.retry_initial_ms < 10 {
            p.push(
                "sink.retry_initial_ms",
                format!(
                    "{} is too short; use at least 10 (default {})",
                    s.retry_initial_ms, default.retry_initial_ms
                ),
            );
        }
        if s.retry_max_ms < s.retry_initial_ms {
            p.push(
                "sink.retry_max_ms",
                format!(
                    "{} must be at least sink.retry_initial_ms ({})",
                    s.retry_max_ms, s.retry_initial_ms
                ),
            );
        }
        if s.poll_interval_ms == 0 {
            p.push(
                "sink.poll_interval_ms",
                format!("must be at least 1 (default {})", default.poll_interval_ms),
            );
        }
        for (name, value) in &s.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.push(
                    "sink.headers",
                    format!("{name:?} is not a valid header name"),
                );
            }
            if http::HeaderValue::from_str(value).is_err() {
                p.push(
                    format!("sink.headers.{name}"),
                    "the value is not a valid header value (no line breaks or control characters)",
                );
            }
        }
        if s.url.is_some() && (s.batch_max_events == 0 || s.batch_max_bytes < 64 * 1024) {
            p.push(
                "sink",
                "batch_max_events must be > 0 and batch_max_bytes at least 65536",
            );
        }
        p.or(ShipConfig {
            dir: data_dir.join("clicks"),
            state_dir: data_dir.to_path_buf(),
            batch_max_events: s.batch_max_events,
            batch_max_bytes: s.batch_max_bytes,
            poll_interval: Duration::from_millis(s.poll_interval_ms),
            min_insert_interval: Duration::from_millis(s.min_insert_interval_ms),
            retry_initial: Duration::from_millis(s.retry_initial_ms),
            retry_max: Duration::from_millis(s.retry_max_ms),
        })
    }
}

pub struct Shipper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Shipper {
    /// Ships the clicks' spool, counted under the clicks' names.
    pub fn start(
        cfg: ShipConfig,
        sink: Box<dyn Sink>,
        metrics: Arc<Metrics>,
        active: ActiveSegment,
    ) -> std::io::Result<Shipper> {
        Self::start_stream(cfg, sink, metrics.click_stream(), active)
    }

    /// Ships one stream's spool (`cfg.dir`), counted in `counters`.
    pub(crate) fn start_stream(
        cfg: ShipConfig,
        sink: Box<dyn Sink>,
        counters: StreamCounters,
        active: ActiveSegment,
    ) -> std::io::Result<Shipper> {
        let stop = Arc::new(AtomicBool::new(false));
        let run = Run {
            cfg,
            sink: Arc::from(sink),
            counters,
            active,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("clickedge-ship".into())
            .spawn(move || run.run())?;
        Ok(Shipper {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the shipper to stop after the send in flight, and waits.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Run {
    cfg: ShipConfig,
    sink: Arc<dyn Sink>,
    counters: StreamCounters,
    active: ActiveSegment,
    stop: Arc<AtomicBool>,
}

/// A batch read and encoded by the reading thread, waiting to be sent.
struct Prepared {
    body: Vec<u8>,
    count: usize,
    first_ts: Option<String>,
    /// The position to save once the sink acknowledged.
    segment: String,
    end: u64,
    /// Read to the end of its segment (for now).
    at_eof: bool,
    /// ... and the segment is sealed: delete it after the acknowledgement.
    finished: bool,
}

impl Run {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps up to `d`, waking early on shutdown.
    fn nap(&self, d: Duration) {
        nap(&self.stop, d)
    }

    fn run(self) {
        let lock_path = self.cfg.state_dir.join("ship.lock");
        let lock = match crate::files::open_append(&lock_path) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, path = %lock_path.display(), "cannot create the shipper's lock; not shipping");
                return;
            }
        };
        let mut said = false;
        while lock.try_lock().is_err() {
            if !said {
                tracing::info!("another process ships this data dir; waiting for its lock");
                said = true;
            }
            self.nap(Duration::from_millis(500));
            if self.stopping() {
                return;
            }
        }
        tracing::info!(sink = %self.sink.describe(), "shipping the spool");
        let pos_path = self.cfg.state_dir.join("ship.pos");
        let start = Position::load(&pos_path);
        // The position's segment, if it was read to its end, was shipped: a
        // crash between the position's save and the delete leaves it. Any
        // other segment is unshipped, whatever its name (one written after
        // the wall clock stepped back sorts before the position).
        if !start.segment.is_empty()
            && reader::is_sealed(&self.cfg.dir, &start.segment, &self.active)
        {
            let len = std::fs::metadata(self.cfg.dir.join(&start.segment)).map(|m| m.len());
            if len.is_ok_and(|len| len <= start.offset) {
                self.delete(&start.segment);
            }
        }

        // Reading and encoding the next batch overlaps sending this one.
        let (tx, rx) = mpsc::sync_channel::<Prepared>(1);
        let reading = {
            let r = Reader {
                cfg: self.cfg.clone(),
                sink: self.sink.clone(),
                counters: self.counters.clone(),
                active: self.active.clone(),
                stop: self.stop.clone(),
            };
            std::thread::Builder::new()
                .name("clickedge-ship-read".into())
                .spawn(move || r.run(start, tx))
        };
        while let Ok(p) = rx.recv() {
            if p.count > 0 {
                let oldest = p
                    .first_ts
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339(t).ok());
                if !self.send(&p.body, p.count, oldest) {
                    break; // stopping during an outage: it stays on disk
                }
                self.counters.shipped.inc_by(p.count as u64);
            }
            let pos = Position {
                segment: p.segment.clone(),
                offset: p.end,
            };
            if let Err(e) = pos.save(&pos_path) {
                tracing::error!(error = %e, "cannot save the shipper's position");
            }
            if p.finished {
                self.delete(&p.segment);
            }
            if p.at_eof {
                self.counters.ship_lag.set(0.0);
            }
        }
        self.stop.store(true, Ordering::Release);
        drop(rx);
        if let Ok(t) = reading {
            let _ = t.join();
        }
        drop(lock);
    }

    fn delete(&self, seg: &str) {
        let path = self.cfg.dir.join(seg);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                let (bytes, files) = reader::usage(&self.cfg.dir);
                self.counters.bytes.set(bytes as i64);
                self.counters.files.set(files as i64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "cannot delete a shipped segment")
            }
        }
    }

    /// Sends until acknowledged; false if asked to stop first. `oldest`, the
    /// batch's first event time, sets the shipping lag at every attempt, so
    /// the lag keeps growing through an outage.
    fn send(&self, body: &[u8], count: usize, oldest: Option<SystemTime>) -> bool {
        let mut delay = self.cfg.retry_initial;
        loop {
            if let Some(lag) = oldest.and_then(|t| SystemTime::now().duration_since(t).ok()) {
                self.counters.ship_lag.set(lag.as_secs_f64());
            }
            match self.sink.send(body) {
                Ok(()) => return true,
                Err(e) => {
                    match &e {
                        SinkError::Rejected(_) => self.counters.sink_rejected.inc(),
                        SinkError::Failed(_) => self.counters.sink_errors.inc(),
                    }
                    tracing::warn!(error = %e, sink = %self.sink.describe(), events = count, retry_in = ?delay, "sink did not take the batch");
                }
            }
            if self.stopping() {
                return false;
            }
            // Full jitter: anywhere in [delay/2, delay], so many edges
            // coming back after an outage do not retry in step.
            let jittered = delay.mul_f64(0.5 + 0.5 * jitter());
            self.nap(jittered);
            if self.stopping() {
                return false;
            }
            delay = (delay * 2).min(self.cfg.retry_max);
        }
    }
}

fn nap(stop: &AtomicBool, d: Duration) {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !stop.load(Ordering::Acquire) && !left.is_zero() {
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
}

/// The reading thread: walks the segments from the saved position on,
/// reads and encodes batches, and hands them over in order.
struct Reader {
    cfg: ShipConfig,
    sink: Arc<dyn Sink>,
    counters: StreamCounters,
    active: ActiveSegment,
    stop: Arc<AtomicBool>,
}

impl Reader {
    /// Reads the position's segment on from its offset until it is
    /// finished, then every other segment from its start, oldest name
    /// first. `done` remembers the segments finished in this run until the
    /// shipper has deleted them (it runs a batch behind).
    fn run(self, mut at: Position, tx: mpsc::SyncSender<Prepared>) {
        let mut done = BTreeSet::new();
        let mut last_batch: Option<std::time::Instant> = None;
        while !self.stop.load(Ordering::Acquire) {
            // Fewer, larger inserts: events that arrive meanwhile wait on
            // disk and go in the next batch.
            if let Some(since) = last_batch.map(|t| t.elapsed()) {
                if since < self.cfg.min_insert_interval {
                    nap(&self.stop, self.cfg.min_insert_interval - since);
                    continue;
                }
            }
            match self.next(&at, &mut done) {
                Ok(Some(p)) => {
                    if p.count > 0 {
                        last_batch = Some(std::time::Instant::now());
                    }
                    at = if p.finished {
                        done.insert(p.segment.clone());
                        Position::default()
                    } else {
                        Position {
                            segment: p.segment.clone(),
                            offset: p.end,
                        }
                    };
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(None) => nap(&self.stop, self.cfg.poll_interval),
                Err(e) => {
                    tracing::error!(error = %e, "shipper: spool read failed");
                    nap(&self.stop, Duration::from_secs(1));
                }
            }
        }
    }

    /// The next batch after `at`, or `None` when there is nothing new.
    fn next(
        &self,
        at: &Position,
        done: &mut BTreeSet<String>,
    ) -> std::io::Result<Option<Prepared>> {
        let segments = reader::segments(&self.cfg.dir)?;
        done.retain(|d| segments.binary_search(d).is_ok());
        let current = segments.iter().find(|s| **s == at.segment);
        let Some(seg) = current.or_else(|| segments.iter().find(|s| !done.contains(*s))) else {
            return Ok(None);
        };
        let offset = if *seg == at.segment { at.offset } else { 0 };
        let sealed = reader::is_sealed(&self.cfg.dir, seg, &self.active);
        let path = self.cfg.dir.join(seg);
        let batch = reader::read_batch(
            &path,
            offset,
            self.cfg.batch_max_events,
            self.cfg.batch_max_bytes,
            sealed,
        )?;
        let mut damaged = batch.damaged;
        let finished = batch.at_eof && sealed;
        if batch.count == 0 && batch.end == offset && !finished {
            return Ok(None);
        }
        let (body, count) = if batch.count == 0 {
            (Vec::new(), 0)
        } else {
            match self.sink.encode(&batch.ndjson) {
                Ok(b) => (b, batch.count),
                Err(e) => {
                    // Records that pass their checksum but are not click
                    // events (a foreign line): found one by one, skipped
                    // and counted as damaged; the rest of the batch ships.
                    tracing::error!(error = %e, segment = %seg, "records the sink cannot take; skipped");
                    let mut good = Vec::with_capacity(batch.ndjson.len());
                    let mut n = 0;
                    for line in batch.ndjson.split_inclusive(|&b| b == b'\n') {
                        if self.sink.encode(line).is_ok() {
                            good.extend_from_slice(line);
                            n += 1;
                        }
                    }
                    match self.sink.encode(&good) {
                        Ok(b) if n > 0 => {
                            damaged += batch.count - n;
                            (b, n)
                        }
                        _ => {
                            damaged += batch.count;
                            (Vec::new(), 0)
                        }
                    }
                }
            }
        };
        if damaged > 0 {
            tracing::warn!(segment = %seg, damaged, "skipped damaged spool records");
            self.counters.damaged.inc_by(damaged as u64);
        }
        Ok(Some(Prepared {
            body,
            count,
            first_ts: batch.first_ts,
            segment: seg.clone(),
            end: batch.end,
            at_eof: batch.at_eof,
            finished,
        }))
    }
}

/// A number in [0, 1) from the clock's low bits: enough to spread retries.
fn jitter() -> f64 {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(n % 1000) / 1000.0
}
