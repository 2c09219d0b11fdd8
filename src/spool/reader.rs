//! Reading the spool back: segment files in name order, records verified,
//! damaged ones skipped and counted, and the shipper's position.
//!
//! A segment is *sealed* once no process will append to it: it is not the
//! writer's current file, and no process holds the lock its writer takes
//! on it for as long as the file is open (the kernel drops the lock when
//! the writer closes it or dies, so a crash, a reboot or a reused pid
//! cannot keep it open). Only in a sealed segment is a last line without a
//! newline a torn record (a crash cut it); in an open one it is a record
//! still being written, and the reader waits for it.
//!
//! Also the one line reader of the files the back end reads a line at a
//! time ([`read_line`]): it holds at most one line of a bounded length,
//! however long a line on disk is.

use super::record;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The writer's current file name, shared with readers of this process.
pub(crate) type ActiveSegment = Arc<Mutex<Option<String>>>;

/// Segment file names in `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        // A directory (or anything else) that happens to be named like a
        // segment is not one.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ndjson") && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Bytes and number of the segment files in `dir` now: what the
/// `spool_bytes` and `spool_files` gauges are reset to, since processes
/// that share the directory (an upgrade) each count only their own writes.
pub(crate) fn usage(dir: &Path) -> (u64, usize) {
    let names = segments(dir).unwrap_or_default();
    let bytes = names
        .iter()
        .filter_map(|n| std::fs::metadata(dir.join(n)).ok())
        .map(|m| m.len())
        .sum();
    (bytes, names.len())
}

/// Whether anyone may still append to the segment `name` in `dir`.
pub(crate) fn is_sealed(dir: &Path, name: &str, active: &ActiveSegment) -> bool {
    if active.lock().map_or(true, |a| a.as_deref() == Some(name)) {
        return false;
    }
    let file = match File::open(dir.join(name)) {
        Ok(f) => f,
        // Gone: nothing more will be written to it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
        // Cannot tell (out of file descriptors, permissions): open.
        Err(_) => return false,
    };
    match file.try_lock_shared() {
        Ok(()) => true,
        Err(std::fs::TryLockError::WouldBlock) => false,
        // A file system without locks: by the pid in the name, which a
        // reused pid can hold open for longer than needed, never shorter.
        Err(std::fs::TryLockError::Error(_)) => {
            let pid: Option<u32> = name.split('-').nth(1).and_then(|p| p.parse().ok());
            match pid {
                Some(pid) if pid == std::process::id() => true,
                Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
                None => true,
            }
        }
    }
}

/// What one read took from a segment.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events, one JSON object a line (record checksums removed).
    pub ndjson: Vec<u8>,
    pub count: usize,
    /// Records skipped: checksum mismatch, or a torn tail of a sealed segment.
    pub damaged: usize,
    /// Offset just past what was consumed (valid and damaged records).
    pub end: u64,
    /// Nothing is left after `end` (for now, if the segment is open).
    pub at_eof: bool,
    /// The `ts` of the first event, for the shipping lag.
    pub first_ts: Option<String>,
}

/// Reads up to `max_events` records (about `max_bytes` of file) from
/// `offset` on.
pub(crate) fn read_batch(
    path: &Path,
    offset: u64,
    max_events: usize,
    max_bytes: usize,
    sealed: bool,
) -> io::Result<Batch> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut batch = Batch {
        end: offset,
        ..Batch::default()
    };
    if offset >= len {
        batch.at_eof = true;
        return Ok(batch);
    }
    f.seek(SeekFrom::Start(offset))?;
    let want = ((len - offset) as usize).min(max_bytes);
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf)?;
    let read_to_eof = offset + want as u64 == len;
    Ok(scan(&buf, offset, max_events, read_to_eof, sealed))
}

/// Takes up to `max_events` records from `buf`, the bytes of a segment from
/// `offset` on; `read_to_eof`: `buf` runs to the end of the file. The part
/// of `read_batch` that never touches the disk (and is fuzzed).
pub fn scan(buf: &[u8], offset: u64, max_events: usize, read_to_eof: bool, sealed: bool) -> Batch {
    let mut batch = Batch {
        end: offset,
        ..Batch::default()
    };
    let mut pos = 0usize;
    while pos < buf.len() && batch.count < max_events {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            // No newline in what is left.
            if read_to_eof && sealed {
                batch.damaged += 1; // a torn tail
                pos = buf.len();
            } else if pos == 0 && !read_to_eof {
                // One "line" longer than max_bytes: no record is; skip it.
                batch.damaged += 1;
                pos = buf.len();
            }
            break;
        };
        let line = &buf[pos..pos + nl];
        match record::open(line) {
            Some(body) => {
                if batch.first_ts.is_none() {
                    batch.first_ts = first_ts(body);
                }
                batch.ndjson.extend_from_slice(body);
                batch.ndjson.extend_from_slice(b"}\n");
                batch.count += 1;
            }
            None if line.is_empty() => {}
            None => batch.damaged += 1,
        }
        pos += nl + 1;
    }
    batch.end = offset + pos as u64;
    batch.at_eof = read_to_eof && pos == buf.len();
    batch
}

/// Every record of the segments under `dir`, oldest first, a line at a
/// time, never holding more than one line of [`record::MAX_LINE`]: `each`
/// gets a whole record whose checksum holds, as its JSON object, and says
/// whether it could read it. Returns how many were damaged (too long, a
/// checksum that fails, or refused by `each`). A segment shipped and
/// deleted meanwhile is skipped; a last line still being written is left.
pub(crate) fn each_record(dir: &Path, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<u64> {
    let mut damaged = 0;
    let mut line = Vec::with_capacity(1024);
    let mut json = Vec::with_capacity(1024);
    for name in segments(dir)? {
        let file = match File::open(dir.join(&name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut r = io::BufReader::with_capacity(256 * 1024, file);
        loop {
            match read_line(&mut r, &mut line, record::MAX_LINE, &mut |_| Ok(()))? {
                Line::Whole => {}
                // A record still being written, or a torn tail.
                Line::Unended | Line::Eof => break,
                // No record is that long, not even one being written.
                Line::TooLong { .. } => {
                    damaged += 1;
                    continue;
                }
            }
            let Some(body) = record::open(&line) else {
                damaged += 1;
                continue;
            };
            json.clear();
            json.extend_from_slice(body);
            json.push(b'}');
            if !each(&json) {
                damaged += 1;
            }
        }
    }
    Ok(damaged)
}

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line and its newline; the buffer holds the line without it.
    Whole,
    /// The end of the file came before a newline: the buffer holds what
    /// came after the last one (a record still being written, or a torn
    /// tail).
    Unended,
    /// A line longer than the limit: read past, never held whole, and
    /// handed piece by piece to the `spill` of [`read_line`]. `ended`: a
    /// newline ended it (else it ran to the end of the file).
    TooLong { ended: bool },
    /// Nothing left.
    Eof,
}

/// Reads the next line of `r` into `buf` (cleared first), holding at most
/// `max` bytes of it. A longer line is no record of any kind: it is read
/// to its newline (or the end of the file) in the reader's own buffer's
/// pieces, every byte of it, newline included, passed to `spill` (which
/// may copy it through or drop it), and `buf` is left empty.
pub(crate) fn read_line<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    spill: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Line> {
    buf.clear();
    let mut over = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (over, buf.is_empty()) {
                (true, _) => Line::TooLong { ended: false },
                (false, true) => Line::Eof,
                (false, false) => Line::Unended,
            });
        }
        let nl = avail.iter().position(|&b| b == b'\n');
        let piece = &avail[..nl.map_or(avail.len(), |i| i + 1)];
        let used = piece.len();
        if over {
            spill(piece)?;
        } else {
            let text = &piece[..used - usize::from(nl.is_some())];
            if buf.len() + text.len() > max {
                over = true;
                spill(buf)?;
                spill(piece)?;
                buf.clear();
            } else {
                buf.extend_from_slice(text);
            }
        }
        r.consume(used);
        if nl.is_some() {
            return Ok(if over {
                Line::TooLong { ended: true }
            } else {
                Line::Whole
            });
        }
    }
}

fn first_ts(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(b"{\"ts\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

/// Where the shipper is: every record before `offset` in `segment` has
/// been acknowledged by the sink, and so has every segment the shipper has
/// deleted. Every other segment on disk is unshipped, whatever its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub segment: String,
    pub offset: u64,
}

impl Position {
    pub(crate) fn load(path: &Path) -> Position {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Position::default();
        };
        let mut it = text.split_whitespace();
        match (it.next(), it.next().and_then(|o| o.parse().ok())) {
            (Some(s), Some(o)) => Position {
                segment: s.to_string(),
                offset: o,
            },
            _ => Position::default(),
        }
    }

    /// Replaced whole ([`crate::files::replace_whole`]), so a crash leaves
    /// either the old position or the new one.
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let text = format!("{} {}\n", self.segment, self.offset);
        crate::files::replace_whole(path, text.as_bytes()).map_err(|e| e.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> Vec<u8> {
        let mut r = format!("{{\"ts\":\"2026-01-01T00:00:0{n}.000Z\",\"n\":{n}}}").into_bytes();
        record::seal(&mut r);
        r
    }

    #[test]
    fn reads_verifies_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1-1-0001.ndjson");
        let mut data = Vec::new();
        for i in 0..5 {
            data.extend(rec(i));
        }
        std::fs::write(&p, &data).unwrap();
        let b = read_batch(&p, 0, 3, 1 << 20, false).unwrap();
        assert_eq!(b.count, 3);
        assert!(!b.at_eof);
        assert_eq!(b.first_ts.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        let text = String::from_utf8(b.ndjson.clone()).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"n\":0}"
        );
        let b2 = read_batch(&p, b.end, 100, 1 << 20, false).unwrap();
        assert_eq!(b2.count, 2);
        assert!(b2.at_eof);
        assert_eq!(b2.end, data.len() as u64);
    }

    #[test]
    fn a_flipped_byte_and_a_torn_tail_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("1-1-0001.ndjson");
        let mut data = Vec::new();
        data.extend(rec(0));
        let mut bad = rec(1);
        bad[12] ^= 0x04;
        data.extend(bad);
        data.extend(rec(2));
        let torn = rec(3);
        data.extend(&torn[..torn.len() / 2]);
        std::fs::write(&p, &data).unwrap();
        // Open segment: the partial last line is waited for.
        let b = read_batch(&p, 0, 100, 1 << 20, false).unwrap();
        assert_eq!((b.count, b.damaged, b.at_eof), (2, 1, false));
        // Sealed: it is a torn tail.
        let b = read_batch(&p, 0, 100, 1 << 20, true).unwrap();
        assert_eq!((b.count, b.damaged, b.at_eof), (2, 2, true));
    }

    #[test]
    fn a_line_over_the_limit_is_read_past_in_pieces_and_never_held() {
        let text = b"abcd\nabcdefgh\n\nxyzxyzxyz";
        // A reader buffer of 3 bytes: every line comes in several pieces.
        let mut r = io::BufReader::with_capacity(3, &text[..]);
        let mut line = Vec::new();
        let mut spilled = Vec::new();
        let mut next = |r: &mut io::BufReader<&[u8]>, line: &mut Vec<u8>| {
            let mut spill = |p: &[u8]| {
                spilled.extend_from_slice(p);
                Ok(())
            };
            let found = read_line(r, line, 4, &mut spill).unwrap();
            (found, String::from_utf8(line.clone()).unwrap())
        };
        // Exactly the limit: a line.
        assert_eq!(next(&mut r, &mut line), (Line::Whole, "abcd".into()));
        assert_eq!(
            next(&mut r, &mut line),
            (Line::TooLong { ended: true }, String::new())
        );
        assert_eq!(next(&mut r, &mut line), (Line::Whole, String::new()));
        assert_eq!(
            next(&mut r, &mut line),
            (Line::TooLong { ended: false }, String::new())
        );
        assert_eq!(next(&mut r, &mut line), (Line::Eof, String::new()));
        assert!(line.capacity() <= 8, "held {}", line.capacity());
        // What was read past, every byte of it, for a copy to pass through.
        assert_eq!(spilled, b"abcdefgh\nxyzxyzxyz");

        let mut r = io::BufReader::with_capacity(3, &b"ab\ncd"[..]);
        let mut none = |_: &[u8]| Ok(());
        assert_eq!(
            read_line(&mut r, &mut line, 4, &mut none).unwrap(),
            Line::Whole
        );
        assert_eq!(
            read_line(&mut r, &mut line, 4, &mut none).unwrap(),
            Line::Unended
        );
        assert_eq!(line, b"cd");
        assert_eq!(
            read_line(&mut r, &mut line, 4, &mut none).unwrap(),
            Line::Eof
        );
    }

    #[test]
    fn sealed_means_nobody_holds_the_lock_whatever_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let nobody = ActiveSegment::default();
        // A live pid (1 is always running) in the name, but no lock: a
        // crashed writer whose pid was reused.
        let reused = "1-1-0001.ndjson";
        std::fs::write(dir.path().join(reused), rec(0)).unwrap();
        assert!(is_sealed(dir.path(), reused, &nobody));
        // A pid that cannot exist, but the file is locked: a writer has it.
        let held = "1-4294967294-0002.ndjson";
        let f = File::create(dir.path().join(held)).unwrap();
        f.lock().unwrap();
        assert!(!is_sealed(dir.path(), held, &nobody));
        drop(f);
        assert!(is_sealed(dir.path(), held, &nobody));
        // The writer's current file, before it exists.
        let active: ActiveSegment = Arc::new(Mutex::new(Some("2-1-0003.ndjson".into())));
        assert!(!is_sealed(dir.path(), "2-1-0003.ndjson", &active));
    }

    #[test]
    fn position_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ship.pos");
        assert_eq!(Position::load(&p), Position::default());
        let pos = Position {
            segment: "00001-2-0003.ndjson".into(),
            offset: 4242,
        };
        pos.save(&p).unwrap();
        assert_eq!(Position::load(&p), pos);
    }
}
