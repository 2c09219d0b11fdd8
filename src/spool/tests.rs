use super::*;
use segments::Segment;
use std::fs::OpenOptions;
use std::time::Instant;

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
        metrics.click_stream(),
        ActiveSegment::default(),
        None,
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
        let spool = Spool::start(cfg(tmp.path(), 100, 1 << 20), Arc::new(Metrics::new())).unwrap();
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
