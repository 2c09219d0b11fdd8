//! The spool's segment files: how one is named, created and published, and
//! what a crash may leave beside them. Names sort in creation order:
//! `<unix-ms:13>-<pid>-<seq:04>.ndjson`, the stamp never going back even
//! when the wall clock does.

use super::reader::{self, ActiveSegment};
use crate::metrics::StreamCounters;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Numbers the files of this process: unique even when two writers start
/// in the same millisecond.
static FILE_SEQ: AtomicU32 = AtomicU32::new(0);

/// The writer's current file.
pub(super) struct Segment {
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// Bytes written to it.
    pub(super) bytes: u64,
}

/// The millisecond stamp of the newest segment name, this process's or
/// found on disk at start: names keep sorting in creation order even when
/// the wall clock steps back.
static LAST_MS: AtomicU64 = AtomicU64::new(0);

/// Creates the next file; names sort in creation order. The file is made
/// under a hidden name, locked (the lock that keeps it open to readers, see
/// [`reader::is_sealed`]), and only then given its name, so no reader in
/// any process sees it unlocked before it is closed.
pub(super) fn open_segment(
    dir: &Path,
    counters: &StreamCounters,
    active: &ActiveSegment,
) -> io::Result<Segment> {
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
    let file = crate::files::create_new_append(&hidden, 0o666)?;
    if let Err(e) = file.try_lock() {
        tracing::warn!(error = %e, "cannot lock a new spool segment; readers go by its pid");
    }
    // Published, not renamed: it fails rather than replace a file of the
    // same name (another process sharing the directory).
    crate::files::publish_new(&hidden, &path)?;
    let (bytes, files) = reader::usage(dir);
    counters.bytes.set(bytes as i64);
    counters.files.set(files as i64);
    Ok(Segment {
        file,
        path,
        bytes: 0,
    })
}

/// Notes the newest segment already in `dir`, so this process's names sort
/// after it.
pub(super) fn note_existing(dir: &Path) -> io::Result<()> {
    let newest = reader::segments(dir)?
        .iter()
        .filter_map(|n| n.split('-').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    LAST_MS.fetch_max(newest, Ordering::Relaxed);
    Ok(())
}

/// Removes files a crash left between creating a segment under its hidden
/// name and linking it (older than a minute, so never another process's
/// file in the making).
pub(super) fn sweep_hidden(dir: &Path) {
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
