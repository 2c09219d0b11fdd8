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

pub mod reader;
pub mod record;

pub use reader::ActiveSegment;

use crate::metrics::Metrics;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The running writer. Dropping it without [`Spool::shutdown`] leaves the
/// thread to finish when every [`EventQueue`] is gone.
pub struct Spool {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
    active: ActiveSegment,
    thread: Option<JoinHandle<()>>,
}

impl Spool {
    /// Creates the directory and starts the writer thread.
    pub fn start(cfg: SpoolConfig, metrics: Arc<Metrics>) -> io::Result<Spool> {
        std::fs::create_dir_all(&cfg.dir)?;
        let newest = reader::segments(&cfg.dir)?
            .iter()
            .filter_map(|n| n.split('-').next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        LAST_MS.fetch_max(newest, Ordering::Relaxed);
        sweep_hidden(&cfg.dir);
        let (bytes, files) = reader::usage(&cfg.dir);
        metrics.spool_bytes.set(bytes as i64);
        metrics.spool_files.set(files as i64);
        let (tx, rx) = mpsc::sync_channel(cfg.queue_capacity);
        let active = ActiveSegment::default();
        let writer = Writer::new(cfg, metrics.clone(), active.clone());
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

/// What one turn of the writer loop took off the queue.
struct Inbox {
    batch: Vec<Vec<u8>>,
    acks: Vec<SyncSender<()>>,
    stopping: bool,
}

impl Inbox {
    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Event(line) => self.batch.push(line),
            Msg::Sync(ack) => self.acks.push(ack),
            Msg::Shutdown => self.stopping = true,
        }
    }
}

/// Numbers the files of this process: unique even when two writers start
/// in the same millisecond.
static FILE_SEQ: AtomicU32 = AtomicU32::new(0);

struct Segment {
    file: File,
    path: PathBuf,
    bytes: u64,
}

struct Writer {
    cfg: SpoolConfig,
    metrics: Arc<Metrics>,
    active: ActiveSegment,
    segment: Option<Segment>,
    /// The records of the batch being written, not yet handed to the OS.
    /// They count as spooled once written to the file, and as dropped if
    /// the file refuses them first.
    buf: Vec<u8>,
    /// The spool directory, locked while the quota is weighed and the batch
    /// written (`None`: it could not be opened; see [`Writer::lock_dir`]).
    dir: Option<File>,
    /// The last batch had events refused at the quota: said once, not for
    /// every batch while the sink is down.
    over_quota: bool,
    /// Bytes handed to the OS not yet fsynced.
    unsynced: bool,
    last_sync: Instant,
}

impl Writer {
    fn new(cfg: SpoolConfig, metrics: Arc<Metrics>, active: ActiveSegment) -> Writer {
        Writer {
            dir: File::open(&cfg.dir)
                .inspect_err(|e| tracing::warn!(error = %e, dir = %cfg.dir.display(), "cannot open the spool directory to lock it; the quota holds for this process only"))
                .ok(),
            cfg,
            metrics,
            active,
            segment: None,
            buf: Vec::new(),
            over_quota: false,
            unsynced: false,
            last_sync: Instant::now(),
        }
    }

    /// Polls the queue rather than blocking on it: a writer parked in
    /// `recv` must be woken by a syscall on every push, which costs the
    /// request path more than the click itself. Asleep between turns, it
    /// lets pushes stay plain atomic operations.
    fn run(mut self, rx: Receiver<Msg>) {
        let tick = self.cfg.flush_interval.min(Duration::from_millis(10));
        let mut inbox = Inbox {
            batch: Vec::with_capacity(self.cfg.batch_max),
            acks: Vec::new(),
            stopping: false,
        };
        loop {
            // Take what is waiting, up to a batch. When stopping, take
            // everything: no producer is left to add more.
            let mut drained = false;
            while inbox.stopping || inbox.batch.len() < self.cfg.batch_max {
                match rx.try_recv() {
                    Ok(msg) => inbox.take(msg),
                    Err(TryRecvError::Empty) => {
                        drained = true;
                        break;
                    }
                    Err(TryRecvError::Disconnected) => {
                        inbox.stopping = true;
                        drained = true;
                        break;
                    }
                }
            }
            if !inbox.batch.is_empty() {
                self.write_batch(&mut inbox.batch);
            }
            let must_sync = !inbox.acks.is_empty() || inbox.stopping;
            if self.unsynced && (must_sync || self.last_sync.elapsed() >= self.cfg.fsync_interval) {
                self.sync();
            }
            for ack in inbox.acks.drain(..) {
                let _ = ack.send(());
            }
            if inbox.stopping {
                self.close_segment();
                return;
            }
            if drained {
                std::thread::sleep(tick);
            }
        }
    }

    /// Writes the events that fit under the quota, in order, rotating files
    /// past `segment_max_bytes`, and hands them to the OS before it returns;
    /// the rest are dropped and counted.
    fn write_batch(&mut self, batch: &mut Vec<Vec<u8>>) {
        let locked = self.lock_dir();
        // Read under the lock: every writer's bytes are on disk before it
        // lets go, and a shipper's deletes only ever make more room.
        let (on_disk, files) = reader::usage(&self.cfg.dir);
        self.metrics.spool_bytes.set(on_disk as i64);
        self.metrics.spool_files.set(files as i64);
        let mut room = self.cfg.max_spool_bytes.saturating_sub(on_disk);
        let mut refused = 0u64;
        let mut lines = batch.drain(..);
        while let Some(line) = lines.next() {
            let len = line.len() as u64;
            if len > room {
                // The quota: keep what is unshipped, refuse what is new.
                refused += 1;
                continue;
            }
            let buffered = self.buf.len() as u64;
            if self
                .segment
                .as_ref()
                .is_some_and(|s| s.bytes + buffered >= self.cfg.segment_max_bytes)
            {
                self.close_segment();
            }
            if self.segment.is_none() {
                match open_segment(&self.cfg.dir, &self.metrics, &self.active) {
                    Ok(seg) => self.segment = Some(seg),
                    Err(e) => {
                        let n = 1 + lines.len() as u64;
                        tracing::error!(error = %e, events = n, dir = %self.cfg.dir.display(), "cannot create a spool file; events dropped");
                        self.metrics.spool_write_errors.inc();
                        self.metrics.events_dropped.inc_by(n);
                        break;
                    }
                }
            }
            room -= len;
            self.buf.extend_from_slice(&line);
        }
        drop(lines);
        self.flush();
        if locked {
            self.unlock_dir();
        }
        if refused > 0 {
            self.metrics.spool_quota_hits.inc();
            self.metrics.events_dropped.inc_by(refused);
            if !self.over_quota {
                tracing::error!(
                    events = refused,
                    max_spool_bytes = self.cfg.max_spool_bytes,
                    "spool quota reached (is the sink down?); new events dropped until there is room"
                );
            }
        } else if self.over_quota {
            tracing::info!("spool below its quota again; events written");
        }
        self.over_quota = refused > 0;
    }

    /// Takes the exclusive lock on the spool directory, waiting for another
    /// writer's batch. False if it cannot be had: a file system without
    /// locks still gets the quota kept by each process.
    fn lock_dir(&self) -> bool {
        let Some(dir) = &self.dir else {
            return false;
        };
        match dir.lock() {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "cannot lock the spool directory");
                false
            }
        }
    }

    fn unlock_dir(&self) {
        if let Some(dir) = &self.dir {
            if let Err(e) = dir.unlock() {
                tracing::warn!(error = %e, "cannot unlock the spool directory");
            }
        }
    }

    /// Hands the buffer to the OS. Records wholly written count as
    /// spooled; on an error the rest count as dropped, and the next batch
    /// goes to a new file (this one may end in a torn record, which readers
    /// skip and count).
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let Some(seg) = &mut self.segment else {
            return;
        };
        let mut written = 0;
        let mut failed = None;
        while written < self.buf.len() {
            match seg.file.write(&self.buf[written..]) {
                Ok(0) => {
                    failed = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(k) => written += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        seg.bytes += written as u64;
        self.metrics.spool_bytes.add(written as i64);
        let whole = count_lines(&self.buf[..written]);
        self.metrics.events_spooled.inc_by(whole);
        if written > 0 {
            self.unsynced = true;
        }
        if let Some(e) = failed {
            let lost = count_lines(&self.buf) - whole;
            tracing::error!(error = %e, events = lost, file = %seg.path.display(), "spool write failed; events dropped");
            self.metrics.spool_write_errors.inc();
            self.metrics.events_dropped.inc_by(lost);
            // A torn record ends the file: what follows goes to a new one,
            // after what was written whole is made durable. Otherwise the
            // file stays (a full disk does not make a file a flush).
            let torn = written > 0 && self.buf[written - 1] != b'\n';
            self.buf.clear();
            if torn {
                self.sync();
                self.drop_segment();
            }
        }
        self.buf.clear();
    }

    fn close_segment(&mut self) {
        self.flush();
        self.sync();
        self.drop_segment();
    }

    /// Done with the current file (closing it releases its lock).
    fn drop_segment(&mut self) {
        self.segment = None;
        if let Ok(mut a) = self.active.lock() {
            *a = None;
        }
    }

    fn sync(&mut self) {
        if let Some(seg) = &self.segment {
            if let Err(e) = seg.file.sync_data() {
                tracing::error!(error = %e, file = %seg.path.display(), "spool fsync failed");
                self.metrics.spool_write_errors.inc();
            }
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
    }
}

/// Removes files a crash left between creating a segment under its hidden
/// name and linking it (older than a minute, so never another process's
/// file in the making).
fn sweep_hidden(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(60));
        if name.starts_with('.') && name.ends_with(".ndjson.new") && stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Records in `bytes`: each ends with the only newline it has.
fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The millisecond stamp of the newest segment name, this process's or
/// found on disk at start: names keep sorting in creation order even when
/// the wall clock steps back.
static LAST_MS: AtomicU64 = AtomicU64::new(0);

/// Creates the next file; names sort in creation order. The file is made
/// under a hidden name, locked (the lock that keeps it open to readers, see
/// [`reader::is_sealed`]), and only then given its name, so no reader in
/// any process sees it unlocked before it is closed.
fn open_segment(dir: &Path, metrics: &Metrics, active: &ActiveSegment) -> io::Result<Segment> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let prev = LAST_MS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    let ms = now.max(prev + 1);
    let seq = FILE_SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    let name = format!("{ms:013}-{}-{seq:04}.ndjson", std::process::id());
    let path = dir.join(&name);
    let hidden = dir.join(format!(".{name}.new"));
    // Marked active before it exists, so no reader ever sees it sealed.
    if let Ok(mut a) = active.lock() {
        *a = Some(name);
    }
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&hidden)?;
    if let Err(e) = file.try_lock() {
        tracing::warn!(error = %e, "cannot lock a new spool segment; readers go by its pid");
    }
    // A link, not a rename: it fails rather than replace a file of the
    // same name (another process sharing the directory).
    match std::fs::hard_link(&hidden, &path) {
        Ok(()) => std::fs::remove_file(&hidden)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&hidden);
            return Err(e);
        }
        // A file system without hard links (vfat, some FUSE): the names
        // are unique anyway (pid, sequence, a stamp that only grows).
        Err(_) => std::fs::rename(&hidden, &path)?,
    }
    sync_dir(dir)?;
    let (bytes, files) = reader::usage(dir);
    metrics.spool_bytes.set(bytes as i64);
    metrics.spool_files.set(files as i64);
    Ok(Segment {
        file,
        path,
        bytes: 0,
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, capacity: usize, segment_max_bytes: u64) -> SpoolConfig {
        SpoolConfig {
            dir: dir.join("clicks"),
            queue_capacity: capacity,
            batch_max: 64,
            flush_interval: Duration::from_millis(20),
            fsync_interval: Duration::from_millis(50),
            segment_max_bytes,
            max_spool_bytes: u64::MAX,
        }
    }

    #[test]
    fn events_count_as_spooled_once_written_and_as_dropped_when_the_disk_refuses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        let metrics = Arc::new(Metrics::new());
        let mut w = Writer::new(
            cfg(dir.path(), 16, 1 << 20),
            metrics.clone(),
            ActiveSegment::default(),
        );
        // A file that refuses every write: /dev/full, "no space left".
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        w.segment = Some(Segment {
            file: full,
            path: "/dev/full".into(),
            bytes: 0,
        });
        let line = b"{\"n\":1}\n".to_vec();
        w.write_batch(&mut vec![line.clone(); 3]);
        assert_eq!(metrics.events_spooled.get(), 0);
        assert_eq!(metrics.events_dropped.get(), 3);
        assert_eq!(metrics.spool_write_errors.get(), 1);
        assert_eq!(metrics.spool_bytes.get(), 0);
        assert!(
            w.segment.is_some(),
            "nothing torn was written: no new file per failed flush"
        );
        // Another file (as after a torn write): counted once written, its
        // bytes in the gauge.
        w.drop_segment();
        w.write_batch(&mut vec![line.clone(); 4]);
        assert_eq!(metrics.events_spooled.get(), 4);
        assert_eq!(metrics.events_dropped.get(), 3);
        assert_eq!(metrics.spool_bytes.get(), 4 * line.len() as i64);
        // A gauge driven below zero (another process deleted files it never
        // counted) is not a full disk.
        metrics.spool_bytes.set(-1_000_000);
        w.write_batch(&mut vec![line; 2]);
        w.close_segment();
        assert_eq!(metrics.events_spooled.get(), 6);
        assert_eq!(metrics.spool_quota_hits.get(), 0);
    }

    fn lines(dir: &Path) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(dir.join("clicks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn writes_every_event_in_order_across_rotations() {
        let tmp = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::new());
        let spool = Spool::start(cfg(tmp.path(), 10_000, 64 * 1024), m.clone()).unwrap();
        let q = spool.queue();
        for i in 0..5000 {
            assert!(q.push(format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(40)).into_bytes()));
        }
        spool.shutdown();
        let got = lines(tmp.path());
        assert_eq!(got.len(), 5000);
        for (i, l) in got.iter().enumerate() {
            assert!(l.starts_with(&format!("{{\"n\":{i},")), "line {i}: {l}");
        }
        let files = std::fs::read_dir(tmp.path().join("clicks"))
            .unwrap()
            .count();
        assert!(files > 1, "rotated past segment_max_bytes: {files} files");
        assert_eq!(m.events_spooled.get(), 5000);
        assert_eq!(m.events_dropped.get(), 0);
    }

    #[test]
    fn sync_makes_events_readable_while_running() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::start(cfg(tmp.path(), 100, 1 << 20), Arc::new(Metrics::new())).unwrap();
        spool.queue().push(b"{\"a\":1}\n".to_vec());
        spool.sync();
        assert_eq!(lines(tmp.path()), vec!["{\"a\":1}"]);
        spool.shutdown();
    }

    #[test]
    fn flush_interval_makes_events_readable_without_a_sync() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::start(cfg(tmp.path(), 100, 1 << 20), Arc::new(Metrics::new())).unwrap();
        spool.queue().push(b"{\"a\":2}\n".to_vec());
        // Behaviour, not timing: poll until visible, failing after a generous bound.
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines(tmp.path()).is_empty() {
            assert!(Instant::now() < deadline, "event never became readable");
            std::thread::sleep(Duration::from_millis(5));
        }
        spool.shutdown();
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::new());
        // A queue that is never drained: no writer thread.
        let (tx, _rx) = mpsc::sync_channel(2);
        let q = EventQueue {
            tx,
            metrics: m.clone(),
        };
        assert!(q.push(b"1\n".to_vec()));
        assert!(q.push(b"2\n".to_vec()));
        assert!(!q.push(b"3\n".to_vec()));
        assert_eq!(m.events_queued(), 2);
        assert_eq!(m.events_dropped.get(), 1);
        drop(tmp);
    }

    /// A line of `len` bytes, newline included, numbered `i`.
    fn event(i: usize, len: usize) -> Vec<u8> {
        let head = format!("{{\"n\":{i},\"pad\":\"");
        let pad = len - head.len() - 3;
        format!("{head}{}\"}}\n", "x".repeat(pad)).into_bytes()
    }

    fn quota_cfg(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            max_spool_bytes: 256 * 1024,
            ..cfg(dir, 10_000, 64 * 1024)
        }
    }

    /// A started spool with [`quota_cfg`]: its metrics, quota and directory.
    fn quota_spool(dir: &Path) -> (Arc<Metrics>, u64, PathBuf, Spool) {
        let m = Arc::new(Metrics::new());
        let c = quota_cfg(dir);
        let (max, clicks) = (c.max_spool_bytes, c.dir.clone());
        (m.clone(), max, clicks, Spool::start(c, m).unwrap())
    }

    #[test]
    fn the_spool_never_holds_more_than_its_quota_and_counts_what_it_drops() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, max, dir, spool) = quota_spool(tmp.path());
        let q = spool.queue();
        let len = 330;
        for i in 0..1500 {
            assert!(q.push(event(i, len)));
        }
        spool.shutdown();
        let (on_disk, _) = reader::usage(&dir);
        assert!(on_disk <= max, "{on_disk} bytes on disk, quota {max}");
        // Every event that fitted was kept: the spool is full to within
        // one event.
        assert!(on_disk > max - len as u64, "{on_disk} bytes on disk");
        let kept = lines(tmp.path()).len() as u64;
        assert_eq!(kept * len as u64, on_disk);
        assert_eq!(m.events_spooled.get(), kept);
        assert_eq!(m.events_dropped.get(), 1500 - kept);
        assert!(m.spool_quota_hits.get() >= 1);
        assert_eq!(m.spool_bytes.get(), on_disk as i64);
    }

    #[test]
    fn a_shipped_segment_deleted_makes_room_up_to_the_quota_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, max, dir, spool) = quota_spool(tmp.path());
        let q = spool.queue();
        let len = 500;
        for i in 0..1000 {
            q.push(event(i, len));
        }
        spool.sync();
        let (full, _) = reader::usage(&dir);
        assert!(full <= max, "{full} bytes on disk, quota {max}");
        // The shipper deletes the oldest (sealed) segment and resets the
        // gauges from the directory, as `ship` does.
        let oldest = reader::segments(&dir).unwrap().remove(0);
        let freed = std::fs::metadata(dir.join(&oldest)).unwrap().len();
        std::fs::remove_file(dir.join(&oldest)).unwrap();
        let (bytes, files) = reader::usage(&dir);
        m.spool_bytes.set(bytes as i64);
        m.spool_files.set(files as i64);
        let spooled = m.events_spooled.get();
        for i in 1000..2000 {
            q.push(event(i, len));
        }
        spool.shutdown();
        let (on_disk, _) = reader::usage(&dir);
        assert!(on_disk <= max, "{on_disk} bytes on disk, quota {max}");
        assert!(on_disk > max - len as u64, "{on_disk} bytes on disk");
        assert!(
            m.events_spooled.get() - spooled >= freed / len as u64,
            "the room a delete made is used"
        );
        assert_eq!(m.events_spooled.get() + m.events_dropped.get(), 2000);
    }

    #[test]
    fn two_writers_sharing_a_spool_stay_within_its_quota_together() {
        // The old and the new process of an upgrade, both writing.
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (Arc::new(Metrics::new()), Arc::new(Metrics::new()));
        let c = quota_cfg(tmp.path());
        let (max, dir) = (c.max_spool_bytes, c.dir.clone());
        let old = Spool::start(c.clone(), a.clone()).unwrap();
        let new = Spool::start(c, b.clone()).unwrap();
        let (qa, qb) = (old.queue(), new.queue());
        let len = 400;
        for i in 0..1500 {
            qa.push(event(i, len));
            qb.push(event(i, len));
        }
        old.shutdown();
        new.shutdown();
        let (on_disk, _) = reader::usage(&dir);
        assert!(on_disk <= max, "{on_disk} bytes on disk, quota {max}");
        assert!(on_disk > max - len as u64, "{on_disk} bytes on disk");
        let spooled = a.events_spooled.get() + b.events_spooled.get();
        let dropped = a.events_dropped.get() + b.events_dropped.get();
        assert_eq!(spooled * len as u64, on_disk);
        assert_eq!(spooled + dropped, 3000);
    }

    #[test]
    fn restart_starts_a_new_file() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..2 {
            let spool =
                Spool::start(cfg(tmp.path(), 100, 1 << 20), Arc::new(Metrics::new())).unwrap();
            spool
                .queue()
                .push(format!("{{\"run\":{i}}}\n").into_bytes());
            spool.shutdown();
        }
        assert_eq!(lines(tmp.path()), vec!["{\"run\":0}", "{\"run\":1}"]);
        assert_eq!(
            std::fs::read_dir(tmp.path().join("clicks"))
                .unwrap()
                .count(),
            2
        );
    }
}
