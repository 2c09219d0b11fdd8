//! The local spool: events leave the request path through a bounded queue
//! and are written, in batches, to segment files under `<data_dir>/clicks/`.
//!
//! ```text
//! request path ──try_send──► queue (bounded, events.queue_capacity)
//!                                 │ one writer thread
//!                                 ▼
//!   <data_dir>/clicks/<unix-ms:13>-<pid>-<seq:04>.ndjson    segments
//!   <data_dir>/ship.pos   "<segment> <offset>"              the shipper's position
//!   <data_dir>/ship.lock                                    one shipper per data dir
//! ```
//!
//! A segment is a sequence of records, one a line; a record is the event's
//! JSON object with a last field `crc`, the CRC32C of the bytes before it
//! ([`record`]). Names sort in creation order.
//!
//! Owns: the queue, the writer thread, and the files it creates. The
//! shipper ([`crate::ship`]) reads them back with [`reader`] and deletes
//! them; nothing else deletes a segment.
//!
//! Invariants:
//! - [`EventQueue::push`] never blocks and never fails the request: a full
//!   queue drops the event and counts it (`clickedge_events_dropped_total`).
//! - A record is written whole, in the order it was queued, and never spans
//!   two files. The writer wakes every `min(flush_interval, 10 ms)`, hands
//!   each batch it takes to the OS at once (so other processes can read it
//!   within `flush_interval`) and fsyncs at least every `fsync_interval`: a
//!   machine crash loses at most the events of that interval, a process
//!   crash only what was still in the queue. A torn last record is detected
//!   by its checksum.
//! - Files are never appended to by a later process: each run, and each
//!   rotation past `segment_max_bytes`, starts a new file. The directory is
//!   fsynced after a file is created. A file is *sealed* once it is not the
//!   writer's current one ([`ActiveSegment`]) and nobody holds the lock its
//!   writer keeps on it while open ([`reader::is_sealed`]).
//! - The segments never hold more than `max_spool_bytes` together: an event
//!   that would take them past it is refused (dropped and counted), never
//!   an old unshipped one deleted, and an event that fits is written. The
//!   writer weighs each event against the bytes on disk, read from the
//!   directory under an exclusive lock on it that every writer holds from
//!   that reading until its batch is written, so two processes sharing the
//!   directory (an upgrade) cannot both take the same room.
//! - [`Spool::shutdown`] writes every event still queued, fsyncs, and only
//!   then returns: call it after the server has stopped taking requests.

pub(crate) mod reader;
pub(crate) mod record;
mod segments;
mod writer;

pub(crate) use reader::ActiveSegment;

use crate::metrics::{Metrics, StreamCounters};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use writer::Writer;

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// `<data_dir>/clicks`
    pub dir: PathBuf,
    pub queue_capacity: usize,
    pub batch_max: usize,
    pub flush_interval: Duration,
    pub fsync_interval: Duration,
    pub segment_max_bytes: u64,
    /// Most bytes of spool files kept; past it new events are dropped and
    /// counted, never old unshipped ones deleted.
    pub max_spool_bytes: u64,
}

impl SpoolConfig {
    /// From the `events` section and the data dir; every problem named by
    /// its key.
    pub fn from_config(
        e: &crate::config::EventsConfig,
        data_dir: &Path,
    ) -> Result<SpoolConfig, crate::config::Problems> {
        let mut p = crate::config::Problems::default();
        for (name, v) in [
            ("events.queue_capacity", e.queue_capacity as u64),
            ("events.batch_max", e.batch_max as u64),
            ("events.flush_interval_ms", e.flush_interval_ms),
            ("events.fsync_interval_ms", e.fsync_interval_ms),
        ] {
            if v == 0 {
                p.push(name, "must be greater than 0");
            }
        }
        if e.flush_interval_ms > 1000 {
            p.push(
                "events.flush_interval_ms",
                format!(
                    "{} is over 1000; events must be readable within one second",
                    e.flush_interval_ms
                ),
            );
        }
        if e.segment_max_bytes < 64 * 1024 {
            p.push("events.segment_max_bytes", "use at least 65536");
        }
        if e.max_spool_bytes < e.segment_max_bytes.saturating_mul(2) {
            // Only sealed files are deleted once shipped: a quota the open
            // file alone can fill would refuse events for ever.
            p.push(
                "events.max_spool_bytes",
                format!(
                    "{} must be at least twice events.segment_max_bytes ({})",
                    e.max_spool_bytes, e.segment_max_bytes
                ),
            );
        }
        p.or(SpoolConfig {
            dir: data_dir.join("clicks"),
            queue_capacity: e.queue_capacity,
            batch_max: e.batch_max,
            flush_interval: Duration::from_millis(e.flush_interval_ms),
            fsync_interval: Duration::from_millis(e.fsync_interval_ms),
            segment_max_bytes: e.segment_max_bytes,
            max_spool_bytes: e.max_spool_bytes,
        })
    }
}

enum Msg {
    Event(Vec<u8>),
    /// Records written once per key, synced, then answered (durable mode).
    Durable(Vec<Keyed>, tokio::sync::oneshot::Sender<Vec<Stored>>),
    /// Write and fsync everything queued before this, then answer.
    Sync(SyncSender<()>),
    Shutdown,
}

/// The producers' end: cheap to clone, one per request path.
#[derive(Clone)]
pub struct EventQueue {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
}

impl EventQueue {
    /// Hands one encoded event to the writer without waiting. Returns false
    /// (and counts a drop) when the queue is full or the writer is gone.
    pub fn push(&self, line: Vec<u8>) -> bool {
        match self.tx.try_send(Msg::Event(line)) {
            Ok(()) => {
                self.metrics.event_queued();
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.events_dropped.inc();
                false
            }
        }
    }
}

/// A record of a durable stream and the key its repeats share.
pub(crate) struct Keyed {
    pub(crate) key: u128,
    pub(crate) line: Vec<u8>,
}

/// What became of a durable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// On disk and synced.
    Written,
    /// Its key was written before (by this process, or found on disk at
    /// start): nothing written.
    Duplicate,
    /// Not stored (quota, a failed write or sync): never acknowledge it.
    Failed,
}

/// The writer will not take more now (its queue is full or it stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the spool writer is busy or stopped")]
pub(crate) struct Busy;

/// The producers' end of a durable stream (conversions): each call waits
/// for its records to be on disk and synced. Writes of concurrent callers
/// share one fsync.
#[derive(Clone)]
pub(crate) struct DurableQueue {
    tx: SyncSender<Msg>,
}

impl DurableQueue {
    /// Writes the records whose keys are new and syncs them; one outcome a
    /// record, in order.
    pub(crate) async fn store(&self, records: Vec<Keyed>) -> Result<Vec<Stored>, Busy> {
        let (ack, done) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Msg::Durable(records, ack))
            .map_err(|_| Busy)?;
        done.await.map_err(|_| Busy)
    }
}

/// The running writer. Dropping it without [`Spool::shutdown`] leaves the
/// thread to finish when every `EventQueue` is gone.
pub struct Spool {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
    active: ActiveSegment,
    thread: Option<JoinHandle<()>>,
}

impl Spool {
    /// Creates the directory and starts the writer thread (the clicks').
    pub fn start(cfg: SpoolConfig, metrics: Arc<Metrics>) -> io::Result<Spool> {
        let counters = metrics.click_stream();
        Self::start_with(cfg, metrics, counters, None)
    }

    /// A durable stream's writer (conversions): [`Spool::durable`] takes
    /// records that are synced before they are answered, each key written
    /// once. `seen` are the keys already on disk.
    pub(crate) fn start_durable(
        cfg: SpoolConfig,
        metrics: Arc<Metrics>,
        counters: StreamCounters,
        seen: impl IntoIterator<Item = u128>,
    ) -> io::Result<Spool> {
        let mut keys = writer::Seen::default();
        for k in seen {
            keys.insert(k);
        }
        Self::start_with(cfg, metrics, counters, Some(keys))
    }

    fn start_with(
        cfg: SpoolConfig,
        metrics: Arc<Metrics>,
        counters: StreamCounters,
        seen: Option<writer::Seen>,
    ) -> io::Result<Spool> {
        std::fs::create_dir_all(&cfg.dir)?;
        segments::note_existing(&cfg.dir)?;
        segments::sweep_hidden(&cfg.dir);
        let (bytes, files) = reader::usage(&cfg.dir);
        counters.bytes.set(bytes as i64);
        counters.files.set(files as i64);
        let (tx, rx) = mpsc::sync_channel(cfg.queue_capacity);
        let active = ActiveSegment::default();
        let writer = Writer::new(cfg, counters, active.clone(), seen);
        let thread = std::thread::Builder::new()
            .name("clickedge-spool".into())
            .spawn(move || writer.run(rx))?;
        Ok(Spool {
            tx,
            metrics,
            active,
            thread: Some(thread),
        })
    }

    /// The writer's current file, for a reader in this process.
    pub fn active_segment(&self) -> ActiveSegment {
        self.active.clone()
    }

    /// The producers' end of a durable stream ([`Spool::start_durable`]).
    pub(crate) fn durable(&self) -> DurableQueue {
        DurableQueue {
            tx: self.tx.clone(),
        }
    }

    pub fn queue(&self) -> EventQueue {
        EventQueue {
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Blocks until every event queued before the call is written and
    /// fsynced. Not for the request path.
    pub fn sync(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Sync(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    /// Writes every queued event, fsyncs, and stops the writer.
    pub fn shutdown(mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("spool writer thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests;
