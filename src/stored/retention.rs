//! Retention: personal detail removed from stored clicks once it is old
//! enough (`clickedge retention`, run daily by the operator).
//!
//! Three ages, from `privacy.retention` (docs/contract.md §5's fields):
//!
//! - `ip` is replaced by `[scrubbed]` ([`REMOVED_IP`]) after `ip_days`
//!   (default 270, about 9 months);
//! - `user_agent` is cut to the device class after `user_agent_days`
//!   (default 540, about 18 months), the same thing an opted-out click
//!   keeps from the start;
//! - `ip_full` (fraud analysis only, `ip_mode: full`) is emptied after
//!   `ip_full_days` (default 30).
//!
//! And one of each conversion record (docs/contract.md §9), under
//! `<data-dir>/conversions/` and in the table `clickedge_conversions`:
//!
//! - `txn_hash` is emptied after `txn_hash_days` (default 90) from the
//!   record's `ts`. It is a keyed hash of the advertiser's order id: not
//!   a name, but a way back to an order for whoever holds the key. Nothing
//!   after the fact needs it: repeats are removed by `conversion_id`,
//!   derived at intake and kept, and the edge's own repeat check is in
//!   memory, within the conversion window. The days left beyond the
//!   window are for reconciling with the advertiser's orders.
//!
//! The rest of a conversion record holds nothing more of a person: the
//! click id is pseudonymous (it names a click, which retention treats on
//! its own), the values and the event are the advertiser's, and `consent`
//! is what the exports must keep obeying; they stay, so reports and
//! exports never change.
//!
//! The click itself, its verdict and everything reports group by stay:
//! counts never change, only the personal detail goes. So does what a
//! report reads to tell whether a click could be decided (an empty `ip` or
//! `user_agent`: the click was stored without one): an address becomes
//! `[scrubbed]`, never empty, and an empty user agent stays empty.
//!
//! Two places hold clicks:
//!
//! - ClickHouse: one `ALTER TABLE … UPDATE` mutation per field, then the
//!   command waits until `system.mutations` says they are done. (Servers
//!   from 19.6 on can do the same with column TTLs; the mutation works on
//!   every version this project supports, 18.16 included.)
//! - The local spool (no sink, or events not shipped yet): sealed segments
//!   are rewritten, each through a temporary file renamed over the old one,
//!   so a crash leaves one or the other whole. The command takes the
//!   shipper's lock first, because a shipper keeps byte offsets into a
//!   segment; with a shipper running, retention belongs to the sink.
//!   Damaged records are copied through untouched: never lose data. A line
//!   longer than any record is one of them, copied a piece at a time.

use crate::config::RetentionConfig;
use crate::conversion::record::Conversion;
use crate::event::{Field, Record};
use crate::files::FileError;
use crate::ship::sinks::ClickHouse;
use crate::spool::reader::{self, read_line, Line};
use crate::spool::record;
use crate::stored::clickhouse::{self as ch, ClickHouseError};
use crate::time::{self, DAY};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What `ip` holds once its address is removed. Not empty: an empty `ip`
/// is a click stored without an address (opted out, privacy mode `none`),
/// which reports count undecided (`decision_rate`), and whether a click
/// could be decided is a fact of the click, fixed when it was stored.
pub(crate) const REMOVED_IP: &str = "[scrubbed]";

/// The cut-off times, as the RFC 3339 strings events carry in `ts` (which
/// sort as they compare).
#[derive(Debug, Clone)]
pub(crate) struct Cutoffs {
    pub ip: String,
    pub user_agent: String,
    pub ip_full: String,
    /// A conversion's `txn_hash` (by the record's `ts`).
    pub txn_hash: String,
}

impl Cutoffs {
    pub(crate) fn new(cfg: &RetentionConfig, now: SystemTime) -> Cutoffs {
        let before = |days: u32| {
            let t = now
                .checked_sub(DAY * days)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            time::rfc3339_millis(t).to_string()
        };
        Cutoffs {
            ip: before(cfg.ip_days),
            user_agent: before(cfg.user_agent_days),
            ip_full: before(cfg.ip_full_days),
            txn_hash: before(cfg.txn_hash_days),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RetentionError {
    #[error(
        "a shipper is running on {} (it holds ship.lock); the events it ships are \
         handled by `clickedge retention --sink`, and the local spool only keeps \
         what is not shipped yet",
        data_dir.display()
    )]
    ShipperRunning { data_dir: PathBuf },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    /// A segment's rewrite could not be started or put in place.
    #[error("{0}")]
    Replace(FileError),
    #[error("ClickHouse: {0}")]
    ClickHouse(ClickHouseError),
    #[error(
        "ClickHouse: {pending} mutations still running after {}s; they go on in the \
         background (see system.mutations)",
        waited.as_secs()
    )]
    StillRunning { pending: String, waited: Duration },
}

// By hand rather than `#[from]`, which would make the inner error a
// `source` as well: the message already holds it, and `{:#}` would print
// it twice.
impl From<FileError> for RetentionError {
    fn from(e: FileError) -> Self {
        RetentionError::Replace(e)
    }
}

impl From<ClickHouseError> for RetentionError {
    fn from(e: ClickHouseError) -> Self {
        RetentionError::ClickHouse(e)
    }
}

/// An I/O error on `path`.
fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RetentionError + '_ {
    move |error| RetentionError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What a local pass changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LocalOutcome {
    pub records_seen: u64,
    pub records_changed: u64,
    pub segments_rewritten: u64,
    /// Records that failed their checksum, and lines longer than any
    /// record: copied through, not changed.
    pub damaged: u64,
    /// The segment the shipper is part-way through, left as it is.
    pub skipped_segments: u64,
}

/// Applies the cut-offs to the sealed segments under `<data_dir>/clicks/`.
pub(crate) fn local(data_dir: &Path, cut: &Cutoffs) -> Result<LocalOutcome, RetentionError> {
    let mut out = LocalOutcome::default();
    let dir = data_dir.join("clicks");
    if !dir.exists() {
        return Ok(out);
    }
    let lock_path = data_dir.join("ship.lock");
    let lock = crate::files::open_append(&lock_path).map_err(io_at(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(RetentionError::ShipperRunning {
            data_dir: data_dir.to_path_buf(),
        });
    }
    let pos = reader::Position::load(&data_dir.join("ship.pos"));
    let nobody: reader::ActiveSegment = Default::default();
    for name in reader::segments(&dir).map_err(io_at(&dir))? {
        if !reader::is_sealed(&dir, &name, &nobody) || name == pos.segment {
            out.skipped_segments += 1;
            continue;
        }
        rewrite_segment(&dir, &name, cut, apply, &mut out)?;
    }
    // The conversions, the same way: each sealed segment not part-shipped.
    // Their shipper keeps its lock and position in their own directory.
    let dir = data_dir.join(crate::stored::report::conversions::DIR);
    if dir.exists() {
        let lock_path = dir.join("ship.lock");
        let conv_lock = crate::files::open_append(&lock_path).map_err(io_at(&lock_path))?;
        if conv_lock.try_lock().is_err() {
            return Err(RetentionError::ShipperRunning {
                data_dir: data_dir.to_path_buf(),
            });
        }
        let part_shipped = reader::Position::load(&dir.join("ship.pos")).segment;
        for name in reader::segments(&dir).map_err(io_at(&dir))? {
            if !reader::is_sealed(&dir, &name, &nobody) || name == part_shipped {
                out.skipped_segments += 1;
                continue;
            }
            rewrite_segment(&dir, &name, cut, apply_conversion, &mut out)?;
        }
    }
    drop(lock);
    Ok(out)
}

/// What a record's body becomes: `None` when nothing is due.
type Apply = fn(&[u8], &Cutoffs) -> Option<Vec<u8>>;

fn rewrite_segment(
    dir: &Path,
    name: &str,
    cut: &Cutoffs,
    apply: Apply,
    out: &mut LocalOutcome,
) -> Result<(), RetentionError> {
    let path = dir.join(name);
    let mut r = BufReader::new(File::open(&path).map_err(io_at(&path))?);
    // The rewrite goes to a fresh hidden file beside the segment, never
    // through a link planted there, and replaces it only when committed.
    let mut replacement = crate::files::Replacement::new(&path)?;
    let tmp = path.clone();
    let mut w = BufWriter::new(replacement.file());
    let mut line = Vec::with_capacity(1024);
    let mut changed = 0u64;
    loop {
        // A line longer than any record is copied through as it is read,
        // never held whole; a failed write is told from a failed read.
        let mut write_failed = None;
        let mut copy = |piece: &[u8]| {
            w.write_all(piece).map_err(|e| {
                write_failed = Some(e);
                io::Error::other("write failed")
            })
        };
        let found = read_line(&mut r, &mut line, record::MAX_LINE, &mut copy);
        let found = match (found, write_failed) {
            (_, Some(e)) => return Err(io_at(&tmp)(e)),
            (found, None) => found.map_err(io_at(&path))?,
        };
        let whole = match found {
            Line::Eof => break,
            Line::TooLong { .. } => {
                out.damaged += 1;
                continue;
            }
            Line::Whole => true,
            Line::Unended => false,
        };
        let new = match record::open(&line) {
            Some(body) => {
                out.records_seen += 1;
                apply(body, cut)
            }
            None => {
                out.damaged += 1;
                None
            }
        };
        match new {
            Some(mut json) => {
                record::seal(&mut json);
                w.write_all(&json).map_err(io_at(&tmp))?;
                changed += 1;
            }
            None => {
                w.write_all(&line).map_err(io_at(&tmp))?;
                if whole {
                    w.write_all(b"\n").map_err(io_at(&tmp))?;
                }
            }
        }
    }
    if changed == 0 {
        return Ok(()); // dropped uncommitted: the hidden file goes
    }
    w.flush().map_err(io_at(&tmp))?;
    drop(w);
    replacement.commit()?;
    out.records_changed += changed;
    out.segments_rewritten += 1;
    Ok(())
}

/// The event (a record's body) with the expired fields removed, written
/// again in the schema's order, or `None` if nothing is due (or the body is
/// not an event: it is then copied as it is).
fn apply(body: &[u8], cut: &Cutoffs) -> Option<Vec<u8>> {
    let mut json = body.to_vec();
    json.push(b'}');
    let mut ev = Record::parse(&json).ok()?;
    let ts = ev.get(Field::Ts)?;
    let (old_ip, old_full, old_ua) = (
        ts < cut.ip.as_str(),
        ts < cut.ip_full.as_str(),
        ts < cut.user_agent.as_str(),
    );
    let mut changed = false;
    if old_ip
        && ev
            .get(Field::Ip)
            .is_some_and(|ip| !ip.is_empty() && ip != REMOVED_IP)
    {
        ev.set(Field::Ip, Some(REMOVED_IP.into()));
        changed = true;
    }
    if old_full && ev.get(Field::IpFull).is_some() {
        ev.set(Field::IpFull, None);
        changed = true;
    }
    // An empty user agent holds nothing to remove, and stays what it says.
    if old_ua
        && ev
            .get(Field::UserAgent)
            .is_some_and(|ua| !ua.is_empty() && ua != ev.text(Field::Device))
    {
        let device = ev.text(Field::Device).to_string();
        ev.set(Field::UserAgent, Some(device.into()));
        changed = true;
    }
    changed.then(|| ev.to_body())
}

/// A conversion record's body with `txn_hash` emptied once due, written
/// again in the record's order, or `None` if nothing is due (or the body
/// is not a conversion: it is then copied as it is).
fn apply_conversion(body: &[u8], cut: &Cutoffs) -> Option<Vec<u8>> {
    let mut json = body.to_vec();
    json.push(b'}');
    let mut c = Conversion::parse(&json).ok()?;
    if c.txn_hash.is_empty() || c.ts.as_str() >= cut.txn_hash.as_str() {
        return None;
    }
    c.txn_hash.clear();
    serde_json::to_vec(&c).ok()
}

/// The ClickHouse statement that empties conversions' `txn_hash` before
/// the cut-off (from this machine's clock: `ts` is text).
pub(crate) fn conversions_statement(table: &str, cut: &Cutoffs) -> String {
    format!(
        "ALTER TABLE {table} UPDATE txn_hash = '' WHERE ts < '{}' AND txn_hash != ''",
        cut.txn_hash
    )
}

/// The ClickHouse statements for the cut-offs (ages in whole days, from the
/// server's clock).
pub(crate) fn clickhouse_statements(table: &str, cfg: &RetentionConfig) -> Vec<String> {
    vec![
        format!(
            "ALTER TABLE {table} UPDATE ip = '{REMOVED_IP}' \
             WHERE time < now() - INTERVAL {} DAY AND ip != '' AND ip != '{REMOVED_IP}'",
            cfg.ip_days
        ),
        format!(
            "ALTER TABLE {table} UPDATE ip_full = '' \
             WHERE time < now() - INTERVAL {} DAY AND ip_full != ''",
            cfg.ip_full_days
        ),
        format!(
            "ALTER TABLE {table} UPDATE user_agent = device \
             WHERE time < now() - INTERVAL {} DAY AND user_agent != device AND user_agent != ''",
            cfg.user_agent_days
        ),
    ]
}

/// Runs the mutations and waits (up to `wait`) until ClickHouse has applied
/// them to every part.
pub(crate) fn clickhouse(
    sink: &ClickHouse,
    cfg: &RetentionConfig,
    wait: Duration,
) -> Result<Vec<String>, RetentionError> {
    let table = sink.table_name();
    let mut statements = clickhouse_statements(&table, cfg);
    let conversions = sink.sibling(crate::stored::CONVERSIONS_TABLE);
    // Before the first conversion is shipped there may be no such table.
    if ch::query(sink, &format!("EXISTS TABLE {conversions}"))?.trim() == "1" {
        let cut = Cutoffs::new(cfg, SystemTime::now());
        statements.push(conversions_statement(&conversions, &cut));
    }
    for s in &statements {
        ch::query(sink, s)?;
    }
    let (db, name) = table.split_once('.').unwrap_or(("default", &table));
    let pending = format!(
        "SELECT count() FROM system.mutations \
         WHERE database = '{db}' AND table IN ('{name}', '{}') AND is_done = 0",
        crate::stored::CONVERSIONS_TABLE
    );
    let deadline = std::time::Instant::now() + wait;
    loop {
        let n = ch::query(sink, &pending)?;
        if n.trim() == "0" {
            return Ok(statements);
        }
        if std::time::Instant::now() >= deadline {
            return Err(RetentionError::StillRunning {
                pending: n.trim().to_string(),
                waited: wait,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut() -> Cutoffs {
        Cutoffs {
            ip: "2026-01-01T00:00:00.000Z".into(),
            user_agent: "2025-01-01T00:00:00.000Z".into(),
            ip_full: "2026-06-01T00:00:00.000Z".into(),
            txn_hash: "2026-09-01T00:00:00.000Z".into(),
        }
    }

    /// A record body: the event without its closing brace.
    fn event(ts: &str) -> Vec<u8> {
        format!(
            r#"{{"ts":"{ts}","ip":"192.0.2.0","ip_full":"192.0.2.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","device":"desktop""#
        )
        .into_bytes()
    }

    #[test]
    fn each_field_goes_at_its_own_age() {
        let get = |ts: &str| -> Option<serde_json::Value> {
            apply(&event(ts), &cut()).map(|mut j| {
                j.push(b'}');
                serde_json::from_slice(&j).unwrap()
            })
        };
        // Young: nothing due.
        assert!(get("2026-07-01T00:00:00.000Z").is_none());
        // Older than ip_full's cut-off only.
        let e = get("2026-03-01T00:00:00.000Z").unwrap();
        assert!(e.get("ip_full").is_none());
        assert_eq!(e["ip"], "192.0.2.0");
        // Older than ip's too.
        let e = get("2025-06-01T00:00:00.000Z").unwrap();
        assert_eq!(e["ip"], "[scrubbed]");
        assert_eq!(e["user_agent"], "Mozilla/5.0 (X11; Linux x86_64)");
        // And the user agent's.
        let e = get("2024-06-01T00:00:00.000Z").unwrap();
        assert_eq!(e["user_agent"], "desktop");
        assert_eq!(e["ts"], "2024-06-01T00:00:00.000Z");
        // Applying again changes nothing.
        let mut again = serde_json::to_vec(&e).unwrap();
        again.pop();
        assert!(apply(&again, &cut()).is_none());
    }

    #[test]
    fn a_click_stored_without_an_address_or_agent_keeps_them_empty() {
        let body = br#"{"ts":"2024-06-01T00:00:00.000Z","ip":"","user_agent":"","device":"other""#;
        assert!(apply(body, &cut()).is_none());
    }

    #[test]
    fn a_rewritten_record_keeps_the_schema_order() {
        let body = apply(&event("2024-06-01T00:00:00.000Z"), &cut()).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"ts":"2024-06-01T00:00:00.000Z","ip":"[scrubbed]","user_agent":"desktop","device":"desktop""#
        );
    }

    #[test]
    fn a_conversion_loses_its_txn_hash_at_its_age_and_keeps_the_rest() {
        let c = |ts: &str, txn: &str| -> Vec<u8> {
            let mut j = format!(
                r#"{{"ts":"{ts}","conversion_id":"k","click_id":"c","click_ts":"{ts}","event":"purchase","category":"purchase","time":"{ts}","value":"1","currency":"EUR","txn_hash":"{txn}","consent":"granted","source":"s","edge":"e1"}}"#
            )
            .into_bytes();
            j.pop();
            j
        };
        assert!(apply_conversion(&c("2026-10-01T00:00:00.000Z", "ab"), &cut()).is_none());
        assert!(apply_conversion(&c("2026-08-01T00:00:00.000Z", ""), &cut()).is_none());
        let old = apply_conversion(&c("2026-08-01T00:00:00.000Z", "ab"), &cut()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&old).unwrap();
        assert_eq!(v["txn_hash"], "");
        assert_eq!(v["conversion_id"], "k");
        assert_eq!(v["value"], "1");
        // A click's record is no conversion: left as it is.
        assert!(apply_conversion(&event("2024-06-01T00:00:00.000Z"), &cut()).is_none());
        let s = conversions_statement("db.clickedge_conversions", &cut());
        assert_eq!(
            s,
            "ALTER TABLE db.clickedge_conversions UPDATE txn_hash = '' \
             WHERE ts < '2026-09-01T00:00:00.000Z' AND txn_hash != ''"
        );
    }

    #[test]
    fn statements_name_the_table_and_ages() {
        let s = clickhouse_statements("clicks.events", &RetentionConfig::default());
        assert!(s[0].contains("ALTER TABLE clicks.events UPDATE ip = '[scrubbed]'"));
        assert!(s[0].contains("INTERVAL 270 DAY"));
        assert!(s[1].contains("INTERVAL 30 DAY"));
        assert!(s[2].contains("user_agent = device") && s[2].contains("INTERVAL 540 DAY"));
    }
}
