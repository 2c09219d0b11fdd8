//! The spool's writer thread: takes batches off the queue, weighs them
//! against the quota under the directory's lock, writes them to the
//! current segment (rotating past `segment_max_bytes`) and fsyncs on its
//! interval. The invariants it keeps are the module's ([`super`]).

use super::reader::{self, ActiveSegment};
use super::segments::{open_segment, Segment};
use super::{Keyed, Msg, SpoolConfig, Stored};
use crate::metrics::StreamCounters;
use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

/// What one turn of the writer loop took off the queue.
struct Inbox {
    batch: Vec<Vec<u8>>,
    durable: Vec<(Vec<Keyed>, tokio::sync::oneshot::Sender<Vec<Stored>>)>,
    acks: Vec<SyncSender<()>>,
    stopping: bool,
}

impl Inbox {
    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Event(line) => self.batch.push(line),
            Msg::Durable(records, ack) => self.durable.push((records, ack)),
            Msg::Sync(ack) => self.acks.push(ack),
            Msg::Shutdown => self.stopping = true,
        }
    }
}

pub(super) struct Writer {
    cfg: SpoolConfig,
    counters: StreamCounters,
    active: ActiveSegment,
    pub(super) segment: Option<Segment>,
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
    /// A durable stream's keys written (`None`: the clicks' spool).
    seen: Option<Seen>,
    /// A write or sync failed since the last look.
    io_failed: bool,
}

/// The keys a durable stream has written, in two generations: past
/// [`Seen::GENERATION`] keys the older is forgotten, so memory stays
/// bounded (a repeat older than that is removed when reading instead).
#[derive(Default)]
pub(super) struct Seen {
    current: std::collections::HashSet<u128>,
    previous: std::collections::HashSet<u128>,
}

impl Seen {
    const GENERATION: usize = 500_000;

    fn contains(&self, k: u128) -> bool {
        self.current.contains(&k) || self.previous.contains(&k)
    }

    pub(super) fn insert(&mut self, k: u128) {
        if self.current.len() >= Self::GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(k);
    }

    fn remove(&mut self, k: u128) {
        self.current.remove(&k);
        self.previous.remove(&k);
    }
}

impl Writer {
    pub(super) fn new(
        cfg: SpoolConfig,
        counters: StreamCounters,
        active: ActiveSegment,
        seen: Option<Seen>,
    ) -> Writer {
        Writer {
            dir: File::open(&cfg.dir)
                .inspect_err(|e| tracing::warn!(error = %e, dir = %cfg.dir.display(), "cannot open the spool directory to lock it; the quota holds for this process only"))
                .ok(),
            cfg,
            counters,
            active,
            segment: None,
            buf: Vec::new(),
            over_quota: false,
            unsynced: false,
            last_sync: Instant::now(),
            seen,
            io_failed: false,
        }
    }

    /// Polls the queue rather than blocking on it: a writer parked in
    /// `recv` must be woken by a syscall on every push, which costs the
    /// request path more than the click itself. Asleep between turns, it
    /// lets pushes stay plain atomic operations.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        // A durable stream's writer is woken by its callers; the tick only
        // bounds how long it sleeps between looks when idle.
        let tick = if self.seen.is_some() {
            self.cfg.flush_interval
        } else {
            self.cfg.flush_interval.min(Duration::from_millis(10))
        };
        let mut inbox = Inbox {
            batch: Vec::with_capacity(self.cfg.batch_max),
            durable: Vec::new(),
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
            if !inbox.durable.is_empty() {
                self.write_durable(&mut inbox.durable);
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
                if self.seen.is_some() {
                    // A durable stream's caller is waiting: wake for it at
                    // once. Callers that arrive during a sync share the next.
                    match rx.recv_timeout(tick) {
                        Ok(msg) => inbox.take(msg),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            inbox.stopping = true
                        }
                    }
                } else {
                    std::thread::sleep(tick);
                }
            }
        }
    }

    /// Writes the events that fit under the quota, in order, rotating files
    /// past `segment_max_bytes`, and hands them to the OS before it returns;
    /// the rest are dropped and counted.
    pub(super) fn write_batch(&mut self, batch: &mut Vec<Vec<u8>>) {
        let locked = self.lock_dir();
        // Read under the lock: every writer's bytes are on disk before it
        // lets go, and a shipper's deletes only ever make more room.
        let (on_disk, files) = reader::usage(&self.cfg.dir);
        self.counters.bytes.set(on_disk as i64);
        self.counters.files.set(files as i64);
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
                match open_segment(&self.cfg.dir, &self.counters, &self.active) {
                    Ok(seg) => self.segment = Some(seg),
                    Err(e) => {
                        let n = 1 + lines.len() as u64;
                        tracing::error!(error = %e, events = n, dir = %self.cfg.dir.display(), "cannot create a spool file; events dropped");
                        self.counters.write_errors.inc();
                        self.counters.dropped.inc_by(n);
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
            self.counters.quota_hits.inc();
            self.counters.dropped.inc_by(refused);
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

    /// Writes the durable records of this turn whose keys are new, syncs
    /// once for all of them, and answers each caller: a record is
    /// `Written` only once synced. A failed write or sync fails every
    /// record of the turn (and forgets their keys, so a retry writes them:
    /// a record on disk twice is removed by key when read).
    fn write_durable(
        &mut self,
        turn: &mut Vec<(Vec<Keyed>, tokio::sync::oneshot::Sender<Vec<Stored>>)>,
    ) {
        let mut new_keys = std::collections::HashSet::new();
        let mut outcomes: Vec<Vec<Stored>> = Vec::with_capacity(turn.len());
        let mut lines = Vec::new();
        for (records, _) in turn.iter() {
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let seen = self.seen.get_or_insert_with(Seen::default);
                if seen.contains(r.key) || new_keys.contains(&r.key) {
                    out.push(Stored::Duplicate);
                } else {
                    new_keys.insert(r.key);
                    lines.push(r.line.clone());
                    out.push(Stored::Written);
                }
            }
            outcomes.push(out);
        }
        self.io_failed = false;
        let count = lines.len();
        let spooled = self.counters.spooled.get();
        let mut batch = lines;
        if count > 0 {
            self.write_batch(&mut batch);
            self.sync();
        }
        let all_written = self.counters.spooled.get() - spooled == count as u64;
        let ok = !self.io_failed && all_written;
        if let Some(seen) = &mut self.seen {
            for k in &new_keys {
                if ok {
                    seen.insert(*k);
                } else {
                    seen.remove(*k);
                }
            }
        }
        for ((records, ack), mut out) in turn.drain(..).zip(outcomes) {
            if !ok {
                for (o, r) in out.iter_mut().zip(&records) {
                    if *o == Stored::Written || new_keys.contains(&r.key) {
                        *o = Stored::Failed;
                    }
                }
            }
            let _ = ack.send(out);
        }
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
        self.counters.bytes.add(written as i64);
        let whole = count_lines(&self.buf[..written]);
        self.counters.spooled.inc_by(whole);
        if written > 0 {
            self.unsynced = true;
        }
        if let Some(e) = failed {
            let lost = count_lines(&self.buf) - whole;
            tracing::error!(error = %e, events = lost, file = %seg.path.display(), "spool write failed; events dropped");
            self.counters.write_errors.inc();
            self.counters.dropped.inc_by(lost);
            self.io_failed = true;
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

    pub(super) fn close_segment(&mut self) {
        self.flush();
        self.sync();
        self.drop_segment();
    }

    /// Done with the current file (closing it releases its lock).
    pub(super) fn drop_segment(&mut self) {
        self.segment = None;
        if let Ok(mut a) = self.active.lock() {
            *a = None;
        }
    }

    fn sync(&mut self) {
        if let Some(seg) = &self.segment {
            match seg.file.sync_data() {
                Ok(()) => self.counters.syncs.inc(),
                Err(e) => {
                    tracing::error!(error = %e, file = %seg.path.display(), "spool fsync failed");
                    self.counters.write_errors.inc();
                    self.io_failed = true;
                }
            }
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
    }
}

/// Records in `bytes`: each ends with the only newline it has.
fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
