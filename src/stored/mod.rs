//! The back end (docs/contract.md §7, docs/methodology.md): what runs over
//! stored clicks after the fact rather than on a request.
//!
//! - `rescore`: the activity rules ([`rules`]) over a window of stored
//!   clicks. What they find becomes *adjustments* (click id, reason, rule,
//!   run, time) in an append-only store beside the click log, which is
//!   never rewritten. A click already adjusted is never adjusted again, so
//!   re-running a window adds nothing.
//! - `freeze`: a month's report, taken at every group key and kept; a
//!   report of that month reads it, and later adjustments are credits.
//! - [`strikes`]: the publisher ladder.
//!
//! Both stores hold the same things: the local data dir (files under
//! `adjustments/` and `state/`) and ClickHouse (the tables of
//! `conf/clickhouse/backend.sql`, beside the click table).

pub mod activity;
pub mod report;
pub mod retention;
pub mod strikes;

use crate::event::Field;
use crate::ivt::BackendReason;
use crate::ship::sinks::ClickHouse;
use crate::spool::record;
use activity::{Rules, StoredClick};
use report::{Adjusted, Backend, FrozenMonth, GroupKey, Query, Rows};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strum::EnumCount;

/// The back end's ClickHouse tables, created when missing.
pub const CLICKHOUSE_SQL: &str = include_str!("../../conf/clickhouse/backend.sql");

/// The ClickHouse table of the back end's state documents (frozen months,
/// the strike ladder).
const STATE_TABLE: &str = "clickedge_state";

/// One adjustment: a click found invalid after the fact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjustment {
    pub click_id: String,
    pub reason: String,
    pub rule: String,
    pub run: String,
    /// Unix seconds.
    pub time: u64,
}

/// Where the clicks and the back end's records are.
pub enum Store {
    /// The local data dir: clicks under `clicks/`, adjustments under
    /// `adjustments/`, state under `state/`.
    Local(PathBuf),
    ClickHouse(ClickHouse),
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ms_of(ts: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(ts).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// A stored `ip` as the rules group by it: one that retention removed
/// (`[scrubbed]`) is no address, like an empty one.
fn address(ip: &str) -> String {
    if ip == crate::stored::retention::REMOVED_IP {
        String::new()
    } else {
        ip.to_string()
    }
}

/// TSV's escaping of a field (ClickHouse's text format).
fn tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Appends the adjustments of one local file to `all`, a line at a time.
/// The back end writes these files whole, so a line that is not an
/// adjustment is an error, never skipped; one longer than any record (an
/// adjustment holds one click's id and a few short names) is refused
/// without being held.
fn read_adjustments(p: &Path, all: &mut Vec<Adjustment>) -> Result<(), String> {
    use crate::spool::reader::{read_line, Line};
    let file = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut r = std::io::BufReader::new(file);
    let mut line = Vec::new();
    for n in 1.. {
        let at = |what: &dyn std::fmt::Display| format!("{} line {n}: {what}", p.display());
        match read_line(&mut r, &mut line, record::MAX_LINE, &mut |_| Ok(())) {
            Err(e) => return Err(at(&e)),
            Ok(Line::Eof) => break,
            Ok(Line::TooLong { .. }) => {
                return Err(at(&format_args!(
                    "longer than any adjustment can be ({} bytes or more)",
                    record::MAX_LINE + 1
                )))
            }
            Ok(Line::Whole | Line::Unended) => {
                all.push(serde_json::from_slice(&line).map_err(|e| at(&e))?)
            }
        }
    }
    Ok(())
}

impl Store {
    /// Creates the back end's ClickHouse tables when missing; nothing to
    /// do locally.
    pub fn prepare(&self) -> Result<(), String> {
        if let Store::ClickHouse(ch) = self {
            let sql: Vec<&str> = CLICKHOUSE_SQL
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            for stmt in sql.join("\n").split(';').filter(|s| !s.trim().is_empty()) {
                let stmt = stmt.replace("clickedge.", &format!("{}.", ch.database()));
                ch.query(&stmt)?;
            }
        }
        Ok(())
    }

    /// The counted (valid) clicks with `ts` in `[from, to)`.
    pub fn counted_clicks(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<StoredClick>, String> {
        let mut out = Vec::new();
        match self {
            Store::Local(dir) => {
                let (_, damaged) = report::each_local_click(dir, Some(from), Some(to), |f| {
                    if f.text(Field::Verdict) != "valid" {
                        return;
                    }
                    if let Some(ms) = ms_of(f.text(Field::Ts)) {
                        out.push(StoredClick {
                            click_id: f.text(Field::ClickId).to_string(),
                            ms,
                            campaign: f.text(Field::Campaign).to_string(),
                            publisher: f.text(Field::Publisher).to_string(),
                            impression: f.text(Field::Impression).to_string(),
                            platform_click_id: f.text(Field::PlatformClickId).to_string(),
                            ip: address(f.text(Field::Ip)),
                            user_agent: f.text(Field::UserAgent).to_string(),
                        });
                    }
                })
                .map_err(|e| format!("{}: {e}", dir.display()))?;
                if damaged > 0 {
                    eprintln!("clickedge: skipped {damaged} damaged records");
                }
            }
            Store::ClickHouse(ch) => {
                let sql = format!(
                    "SELECT click_id, ts, campaign, publisher, impression, platform_click_id, \
                     ip, user_agent \
                     FROM {} FINAL WHERE verdict = 'valid' AND time >= toDateTime({}) \
                     AND time <= toDateTime({}) AND ts >= '{}' AND ts < '{}' FORMAT TSV",
                    ch.table_name(),
                    secs(from),
                    secs(to),
                    humantime::format_rfc3339_millis(from),
                    humantime::format_rfc3339_millis(to),
                );
                for line in ch.query(&sql)?.lines() {
                    let f: Vec<String> = line.split('\t').map(report::unescape_tsv).collect();
                    let [id, ts, campaign, publisher, impression, platform_click_id, ip, ua] =
                        f.as_slice()
                    else {
                        return Err(format!("unexpected answer from ClickHouse: {line:?}"));
                    };
                    let Some(ms) = ms_of(ts) else { continue };
                    out.push(StoredClick {
                        click_id: id.clone(),
                        ms,
                        campaign: campaign.clone(),
                        publisher: publisher.clone(),
                        impression: impression.clone(),
                        platform_click_id: platform_click_id.clone(),
                        ip: address(ip),
                        user_agent: ua.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Every adjustment, the first one per click (by time, then run).
    pub fn adjustments(&self) -> Result<HashMap<String, Adjusted>, String> {
        let mut all: Vec<Adjustment> = Vec::new();
        match self {
            Store::Local(dir) => {
                let d = dir.join("adjustments");
                let Ok(entries) = std::fs::read_dir(&d) else {
                    return Ok(HashMap::new());
                };
                let mut names: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
                    .collect();
                names.sort();
                for p in names {
                    read_adjustments(&p, &mut all)?;
                }
            }
            Store::ClickHouse(ch) => {
                let sql = format!(
                    "SELECT click_id, reason, rule, run, time FROM {} FORMAT TSV",
                    ch.sibling(report::ADJUSTMENTS_TABLE)
                );
                for line in ch.query(&sql)?.lines() {
                    let f: Vec<String> = line.split('\t').map(report::unescape_tsv).collect();
                    let [click_id, reason, rule, run, time] = f.as_slice() else {
                        return Err(format!("unexpected answer from ClickHouse: {line:?}"));
                    };
                    all.push(Adjustment {
                        click_id: click_id.clone(),
                        reason: reason.clone(),
                        rule: rule.clone(),
                        run: run.clone(),
                        time: time.parse().map_err(|e| format!("{time:?}: {e}"))?,
                    });
                }
            }
        }
        all.sort_by(|a, b| (a.time, &a.run).cmp(&(b.time, &b.run)));
        let mut map = HashMap::new();
        for a in all {
            let Ok(reason) = a.reason.parse::<BackendReason>() else {
                return Err(format!(
                    "adjustment of {} with unknown reason {:?}",
                    a.click_id, a.reason
                ));
            };
            map.entry(a.click_id).or_insert(Adjusted {
                reason,
                time: a.time,
            });
        }
        Ok(map)
    }

    /// Appends one run's adjustments: one new file locally (written whole,
    /// then renamed into place), one insert into ClickHouse.
    pub fn append_adjustments(&self, run: &str, adj: &[Adjustment]) -> Result<(), String> {
        if adj.is_empty() {
            return Ok(());
        }
        match self {
            Store::Local(dir) => {
                let d = dir.join("adjustments");
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                let mut text = String::new();
                for a in adj {
                    text.push_str(&serde_json::to_string(a).map_err(|e| e.to_string())?);
                    text.push('\n');
                }
                crate::files::replace_whole(&d.join(format!("{run}.ndjson")), text.as_bytes())
                    .map_err(|e| e.to_string())
            }
            Store::ClickHouse(ch) => {
                let mut sql = format!(
                    "INSERT INTO {} (click_id, reason, rule, run, time) FORMAT TSV\n",
                    ch.sibling(report::ADJUSTMENTS_TABLE)
                );
                for a in adj {
                    sql.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}\n",
                        tsv(&a.click_id),
                        tsv(&a.reason),
                        tsv(&a.rule),
                        tsv(&a.run),
                        a.time
                    ));
                }
                ch.query(&sql).map(|_| ())
            }
        }
    }

    /// The latest version of each state document of a kind, by key.
    pub fn states(&self, kind: &str) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        match self {
            Store::Local(dir) => {
                let d = dir.join("state").join(kind);
                let Ok(entries) = std::fs::read_dir(&d) else {
                    return Ok(out);
                };
                for e in entries.filter_map(Result::ok) {
                    let p = e.path();
                    let Some(key) = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_suffix(".json"))
                    else {
                        continue;
                    };
                    let body =
                        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    out.insert(key.to_string(), body);
                }
            }
            Store::ClickHouse(ch) => {
                let sql = format!(
                    "SELECT key, argMax(body, version) FROM {} WHERE kind = '{}' \
                     GROUP BY key FORMAT TSV",
                    ch.sibling(STATE_TABLE),
                    kind
                );
                for line in ch.query(&sql)?.lines() {
                    let Some((k, body)) = line.split_once('\t') else {
                        return Err(format!("unexpected answer from ClickHouse: {line:?}"));
                    };
                    out.insert(report::unescape_tsv(k), report::unescape_tsv(body));
                }
            }
        }
        Ok(out)
    }

    /// Stores a new version of a state document. `key` is a short id
    /// (a month, `ladder`).
    pub fn put_state(&self, kind: &str, key: &str, body: &str) -> Result<(), String> {
        match self {
            Store::Local(dir) => {
                let d = dir.join("state").join(kind);
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                crate::files::replace_whole(&d.join(format!("{key}.json")), body.as_bytes())
                    .map_err(|e| e.to_string())
            }
            Store::ClickHouse(ch) => {
                let version = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let sql = format!(
                    "INSERT INTO {} (kind, key, version, body) FORMAT TSV\n{}\t{}\t{}\t{}\n",
                    ch.sibling(STATE_TABLE),
                    tsv(kind),
                    tsv(key),
                    version,
                    tsv(body)
                );
                ch.query(&sql).map(|_| ())
            }
        }
    }

    /// What a report needs from the back end: the frozen months, and
    /// locally the adjustments (ClickHouse joins its own table, created
    /// here when missing, as the state table is).
    pub fn backend(&self) -> Result<Backend, String> {
        self.prepare()?;
        let mut b = Backend::default();
        for (month, body) in self.states("frozen")? {
            b.frozen.insert(month, FrozenMonth::from_json(&body)?);
        }
        if let Store::Local(_) = self {
            b.adjustments = self.adjustments()?;
        }
        Ok(b)
    }

    /// The report, with adjustments and frozen months.
    pub fn report(&self, q: &Query, backend: &Backend) -> Result<Rows, String> {
        match self {
            Store::Local(dir) => {
                let local = report::local(dir, q, backend)
                    .map_err(|e| format!("reading {}: {e}", dir.display()))?;
                if local.damaged > 0 {
                    eprintln!("clickedge: skipped {} damaged records", local.damaged);
                }
                Ok(local.rows)
            }
            Store::ClickHouse(ch) => {
                report::clickhouse(ch, q, backend).map_err(|e| format!("ClickHouse: {e}"))
            }
        }
    }
}

/// What a rescore run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescored {
    pub run: String,
    /// Counted clicks read, the context before the window included.
    pub clicks_read: usize,
    /// New adjustments per reason, indexed like [`BackendReason::ALL`].
    pub new: [u64; BackendReason::COUNT],
    /// Clicks found again that an earlier run had already adjusted.
    pub already: u64,
}

impl Rescored {
    pub fn total_new(&self) -> u64 {
        self.new.iter().sum()
    }
}

/// Runs the rules over the counted clicks with `ts` in `[from, to)`,
/// reading the rules' context before `from`, and appends an adjustment
/// for each click found that none adjusted yet.
pub fn rescore(
    store: &Store,
    rules: &Rules,
    from: SystemTime,
    to: SystemTime,
    now: SystemTime,
) -> Result<Rescored, String> {
    if from >= to {
        return Err("--from must be before --to".into());
    }
    store.prepare()?;
    let context = Duration::from_millis(rules.context_ms() as u64);
    let clicks = store.counted_clicks(from.checked_sub(context).unwrap_or(UNIX_EPOCH), to)?;
    let from_ms = from
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let found = rules.evaluate(&clicks, from_ms);
    let done: HashSet<String> = store.adjustments()?.into_keys().collect();
    let run = format!(
        "run-{}",
        now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
    );
    let mut out = Rescored {
        run: run.clone(),
        clicks_read: clicks.len(),
        ..Rescored::default()
    };
    let mut adj = Vec::new();
    for f in found {
        let id = &clicks[f.index].click_id;
        if done.contains(id) {
            out.already += 1;
            continue;
        }
        out.new[f.reason.index()] += 1;
        adj.push(Adjustment {
            click_id: id.clone(),
            reason: f.reason.as_str().to_string(),
            rule: f.rule,
            run: run.clone(),
            time: secs(now),
        });
    }
    store.append_adjustments(&run, &adj)?;
    Ok(out)
}

/// `YYYY-MM` to the month's first instant and the next month's.
pub fn month_range(month: &str) -> Result<(SystemTime, SystemTime), String> {
    let bad = || format!("--month {month:?}: write YYYY-MM, e.g. 2026-10");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (u32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if month.len() != 7 || !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let start = report::parse_time(&format!("{y:04}-{m:02}-01")).map_err(|_| bad())?;
    let end = report::parse_time(&format!("{ny:04}-{nm:02}-01")).map_err(|_| bad())?;
    Ok((start, end))
}

/// Freezes a month that is over: its report at every group key, with the
/// adjustments made before now, kept for every later report of it.
pub fn freeze(store: &Store, month: &str, now: SystemTime) -> Result<FrozenMonth, String> {
    let (start, end) = month_range(month)?;
    if now < end {
        return Err(format!(
            "{month} is not over yet: a month is frozen once it has ended (at {})",
            humantime::format_rfc3339(end)
        ));
    }
    store.prepare()?;
    let mut backend = store.backend()?;
    if backend.frozen.contains_key(month) {
        return Err(format!(
            "{month} is frozen already; its numbers stay as they are, and later \
             adjustments show as credits"
        ));
    }
    // Adjustments carry whole seconds: those of the freeze's second are in
    // the frozen numbers, and the freeze returns only once that second is
    // over, so every later adjustment is a credit.
    let frozen_at = secs(now);
    backend.adjusted_before = Some(frozen_at + 1);
    let q = Query {
        from: Some(start),
        to: Some(end),
        by: GroupKey::ALL.to_vec(),
    };
    let rows = store.report(&q, &backend)?;
    let f = FrozenMonth {
        month: month.to_string(),
        frozen_at,
        rows,
    };
    store.put_state("frozen", month, &f.to_json())?;
    while secs(SystemTime::now()) <= frozen_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_whose_address_retention_removed_are_not_grouped_by_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        // 40 clicks on one campaign in 40 seconds: a flood, were it one
        // address.
        let mut data = Vec::new();
        for i in 0..40 {
            let mut r = format!(
                r#"{{"ts":"2026-10-15T10:00:{i:02}.000Z","click_id":"c{i}","campaign":"c","impression":"i{i}","publisher":"p","verdict":"valid","ip":"[scrubbed]","user_agent":"desktop","device":"desktop"}}"#
            )
            .into_bytes();
            crate::spool::record::seal(&mut r);
            data.extend(r);
        }
        std::fs::write(dir.path().join("clicks/1-1-0001.ndjson"), data).unwrap();
        let store = Store::Local(dir.path().to_path_buf());
        let rules = Rules::from_config(&crate::config::BackendConfig::default()).unwrap();
        let (from, to) = month_range("2026-10").unwrap();
        let r = rescore(&store, &rules, from, to, to).unwrap();
        assert_eq!((r.clicks_read, r.total_new()), (40, 0));
    }
}
