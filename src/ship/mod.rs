//! The shipper: forwards the spool to the central sink, in batches, and
//! deletes local data only after the sink acknowledged it (SPEC §6).
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
//!   ReplacingMergeTree on it; see README).
//! - The shipper runs on its own thread, never on the request path. It
//!   retries with exponential backoff and full jitter while the sink is
//!   down or refuses; nothing is ever dropped for the sink's sake (the
//!   spool quota is the only bound, and it refuses new events instead).
//! - On shutdown it finishes the send in flight (or gives up on it during
//!   an outage: the batch stays on disk for the next start).

pub mod sinks;

use crate::metrics::Metrics;
use crate::spool::reader::{self, ActiveSegment, Position};
pub use sinks::{Sink, SinkError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

pub struct Shipper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Shipper {
    pub fn start(
        cfg: ShipConfig,
        sink: Box<dyn Sink>,
        metrics: Arc<Metrics>,
        active: ActiveSegment,
    ) -> std::io::Result<Shipper> {
        let stop = Arc::new(AtomicBool::new(false));
        let run = Run {
            cfg,
            sink,
            metrics,
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
    sink: Box<dyn Sink>,
    metrics: Arc<Metrics>,
    active: ActiveSegment,
    stop: Arc<AtomicBool>,
}

impl Run {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps up to `d`, waking early on shutdown.
    fn nap(&self, d: Duration) {
        let step = Duration::from_millis(20);
        let mut left = d;
        while !self.stopping() && !left.is_zero() {
            let s = left.min(step);
            std::thread::sleep(s);
            left -= s;
        }
    }

    fn run(self) {
        let lock_path = self.cfg.state_dir.join("ship.lock");
        let lock = match File::create(&lock_path) {
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
        let mut pos = Position::load(&pos_path);
        while !self.stopping() {
            match self.step(&mut pos, &pos_path) {
                Ok(true) => {}
                Ok(false) => self.nap(self.cfg.poll_interval),
                Err(e) => {
                    tracing::error!(error = %e, "shipper: spool read failed");
                    self.nap(Duration::from_secs(1));
                }
            }
        }
        drop(lock);
    }

    /// One batch. `Ok(true)`: made progress, go on at once.
    fn step(&self, pos: &mut Position, pos_path: &Path) -> std::io::Result<bool> {
        let segments = reader::segments(&self.cfg.dir)?;
        // Segments wholly before the position were shipped: a crash between
        // the position's save and the delete leaves them; delete them now.
        for old in segments
            .iter()
            .filter(|s| s.as_str() < pos.segment.as_str())
        {
            self.delete(old);
        }
        let Some(seg) = segments.iter().find(|s| s.as_str() >= pos.segment.as_str()) else {
            self.metrics.ship_lag.set(0.0);
            return Ok(false);
        };
        let offset = if *seg == pos.segment { pos.offset } else { 0 };
        let sealed = reader::is_sealed(seg, &self.active);
        let path = self.cfg.dir.join(seg);
        let batch = reader::read_batch(
            &path,
            offset,
            self.cfg.batch_max_events,
            self.cfg.batch_max_bytes,
            sealed,
        )?;
        if batch.damaged > 0 {
            tracing::warn!(segment = %seg, damaged = batch.damaged, "skipped damaged spool records");
            self.metrics.spool_damaged.inc_by(batch.damaged as u64);
        }
        if batch.count > 0 {
            if let Some(lag) = batch
                .first_ts
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
            {
                self.metrics.ship_lag.set(lag.as_secs_f64());
            }
            if !self.send(&batch.ndjson, batch.count) {
                return Ok(false); // stopping during an outage: keep it on disk
            }
            self.metrics.events_shipped.inc_by(batch.count as u64);
        }
        let progressed = batch.end > offset || *seg != pos.segment;
        if progressed {
            *pos = Position {
                segment: seg.clone(),
                offset: batch.end,
            };
            pos.save(pos_path)?;
        }
        if batch.at_eof && sealed {
            self.delete(seg);
            // The next segment (by name) starts at 0.
            *pos = Position {
                segment: format!("{seg}\u{1}"),
                offset: 0,
            };
            return Ok(true);
        }
        if batch.at_eof {
            self.metrics.ship_lag.set(0.0);
        }
        Ok(progressed && !batch.at_eof)
    }

    fn delete(&self, seg: &str) {
        let path = self.cfg.dir.join(seg);
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        match std::fs::remove_file(&path) {
            Ok(()) => {
                self.metrics.spool_bytes.sub(len as i64);
                self.metrics.spool_files.dec();
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "cannot delete a shipped segment")
            }
        }
    }

    /// Sends until acknowledged; false if asked to stop first.
    fn send(&self, ndjson: &[u8], count: usize) -> bool {
        let mut delay = self.cfg.retry_initial;
        loop {
            match self.sink.send(ndjson, count) {
                Ok(()) => return true,
                Err(e) => {
                    match &e {
                        SinkError::Rejected(_) => self.metrics.sink_rejected.inc(),
                        SinkError::Failed(_) => self.metrics.sink_errors.inc(),
                    }
                    tracing::warn!(error = %e, events = count, retry_in = ?delay, "sink did not take the batch");
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

/// A number in [0, 1) from the clock's low bits: enough to spread retries.
fn jitter() -> f64 {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(n % 1000) / 1000.0
}
