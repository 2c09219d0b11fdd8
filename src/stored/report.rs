//! `clickedge report` (docs/contract.md §7): gross, valid, invalid (per reason) and test
//! clicks, grouped, over a time range, from the local spool or from
//! ClickHouse.
//!
//! How the numbers are computed, the same way from both sources:
//! - `valid_clicks`: verdict `valid` (the billable ones);
//! - `invalid_clicks`: verdict `invalid`, and per reason in
//!   `invalid_by_reason`;
//! - `gross_clicks` = valid + invalid; `test_clicks` (verdict `test`) are
//!   counted apart and are in neither;
//! - every click once: ClickHouse is read `FINAL` (replayed batches
//!   collapse on `click_id`); the local spool holds each click once;
//! - the range is half-open, `from <= ts < to`, in UTC; `day` is the UTC date.
//!
//! The local source reads the spool as a stream, a line at a time, and keeps
//! one row of counters per group: memory grows with the number of groups,
//! never with the number of events or the length of a line. Damaged
//! records are skipped and counted, lines longer than any record
//! ([`record::MAX_LINE`]) among them.

use crate::closed_set::closed_set;
use crate::event::{Field, Record};
use crate::ivt::{BackendReason, Reason, Verdict};
use crate::spool::{reader, record};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Write};
use std::path::Path;
use std::time::SystemTime;
use strum::EnumCount;

closed_set! {
    /// What a report can group by (`--by`).
    pub enum GroupKey {
        Campaign,
        Publisher,
        Day,
        Device,
        Country,
        /// The ad platform of a template click (`google`, `microsoft`, the
        /// click-id parameter for another), empty for a classic click.
        Platform,
    }
}

impl GroupKey {
    pub fn parse(s: &str) -> Result<GroupKey, String> {
        s.trim().parse().map_err(|_| {
            let all: Vec<&str> = GroupKey::ALL.iter().map(|k| k.as_str()).collect();
            format!("--by {:?}: group by {}", s.trim(), all.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// The event field it reads (`day`: the date of `ts`).
    fn field(self) -> Field {
        match self {
            GroupKey::Campaign => Field::Campaign,
            GroupKey::Publisher => Field::Publisher,
            GroupKey::Day => Field::Ts,
            GroupKey::Device => Field::Device,
            GroupKey::Country => Field::Country,
            GroupKey::Platform => Field::PlatformClickParam,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            // The UTC date as `ts` spells it. (ClickHouse 18.16 fails on
            // toDate(time) here together with FINAL: the sorting key has it.)
            GroupKey::Day => "substring(ts, 1, 10)",
            // The same mapping as `platform_of`.
            GroupKey::Platform => {
                "multiIf(platform_click_param IN ('gclid', 'gbraid', 'wbraid'), 'google', \
                 platform_click_param = 'msclkid', 'microsoft', platform_click_param)"
            }
            other => other.name(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub valid: u64,
    /// Inline invalid and back-end invalid alike: a click counts once.
    pub invalid: u64,
    pub test: u64,
    /// Inline invalid clicks per reason, indexed like [`Reason::ALL`].
    pub by_reason: [u64; Reason::COUNT],
    /// Clicks valid inline and invalidated by an adjustment, indexed like
    /// [`BackendReason::ALL`].
    pub backend: [u64; BackendReason::COUNT],
    /// Valid clicks that carried too little to be decided: stored without
    /// an address or a user agent, so neither the address lists nor the
    /// bot lists nor the activity rules could judge them. A fact of the
    /// click as stored, which retention leaves as it is.
    pub undecided: u64,
    /// Clicks of a frozen month counted valid in its frozen totals and
    /// invalidated by an adjustment made after the freeze: owed back.
    pub credits: u64,
}

impl Counts {
    pub fn gross(&self) -> u64 {
        self.valid + self.invalid
    }

    pub fn backend_invalid(&self) -> u64 {
        self.backend.iter().sum()
    }

    /// The share of gross clicks decided valid or invalid (MRC 2020
    /// addendum); `None` without clicks.
    pub fn decision_rate(&self) -> Option<f64> {
        let gross = self.gross();
        (gross > 0).then(|| (gross - self.undecided) as f64 / gross as f64)
    }

    fn add(&mut self, o: &Counts) {
        self.valid += o.valid;
        self.invalid += o.invalid;
        self.test += o.test;
        self.undecided += o.undecided;
        self.credits += o.credits;
        for (a, b) in self.by_reason.iter_mut().zip(o.by_reason) {
            *a += b;
        }
        for (a, b) in self.backend.iter_mut().zip(o.backend) {
            *a += b;
        }
    }

    /// The counts as stored in a frozen month (reasons by name, so a later
    /// version with more reasons still reads them).
    fn to_json(&self) -> serde_json::Value {
        let mut reasons = serde_json::Map::new();
        for (r, n) in Reason::ALL.iter().zip(self.by_reason) {
            reasons.insert(r.as_str().into(), n.into());
        }
        for (r, n) in BackendReason::ALL.iter().zip(self.backend) {
            reasons.insert(r.as_str().into(), n.into());
        }
        serde_json::json!({
            "valid": self.valid, "invalid": self.invalid, "test": self.test,
            "undecided": self.undecided, "invalid_by_reason": reasons,
        })
    }

    fn from_json(v: &serde_json::Value) -> Result<Counts, String> {
        let n = |k: &str| {
            v[k].as_u64()
                .ok_or_else(|| format!("frozen row without {k}"))
        };
        let mut c = Counts {
            valid: n("valid")?,
            invalid: n("invalid")?,
            test: n("test")?,
            undecided: n("undecided")?,
            ..Counts::default()
        };
        if let Some(m) = v["invalid_by_reason"].as_object() {
            for (name, count) in m {
                let count = count.as_u64().unwrap_or(0);
                if let Ok(r) = name.parse::<Reason>() {
                    c.by_reason[r.index()] = count;
                } else if let Ok(r) = name.parse::<BackendReason>() {
                    c.backend[r.index()] = count;
                } else {
                    return Err(format!("frozen row with an unknown reason {name:?}"));
                }
            }
        }
        Ok(c)
    }
}

/// An adjustment in force on a click: the first back-end reason found for
/// it, and when (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjusted {
    pub reason: BackendReason,
    pub time: u64,
}

/// A month's report as `clickedge freeze` took it: every group key, so any
/// later `--by` sums it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenMonth {
    /// `YYYY-MM`
    pub month: String,
    /// Unix seconds. Adjustments made after it are credits; those of its
    /// own second are in the frozen numbers.
    pub frozen_at: u64,
    /// Keys in [`GroupKey::ALL`] order.
    pub rows: Rows,
}

impl FrozenMonth {
    pub fn to_json(&self) -> String {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|(k, c)| {
                let keys: serde_json::Map<String, serde_json::Value> = GroupKey::ALL
                    .iter()
                    .zip(k)
                    .map(|(g, v)| (g.name().to_string(), v.clone().into()))
                    .collect();
                serde_json::json!({ "keys": keys, "counts": c.to_json() })
            })
            .collect();
        serde_json::json!({ "month": self.month, "frozen_at": self.frozen_at, "rows": rows })
            .to_string()
    }

    pub fn from_json(text: &str) -> Result<FrozenMonth, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("frozen month: {e}"))?;
        let month = v["month"].as_str().ok_or("frozen month without month")?;
        let frozen_at = v["frozen_at"]
            .as_u64()
            .ok_or("frozen month without frozen_at")?;
        let mut rows = Rows::new();
        for r in v["rows"].as_array().ok_or("frozen month without rows")? {
            let keys = GroupKey::ALL
                .iter()
                .map(|g| r["keys"][g.name()].as_str().unwrap_or("").to_string())
                .collect();
            rows.insert(keys, Counts::from_json(&r["counts"])?);
        }
        Ok(FrozenMonth {
            month: month.to_string(),
            frozen_at,
            rows,
        })
    }
}

/// What the back end adds to a report: the adjustments `rescore` made and
/// the months `freeze` froze.
#[derive(Debug, Clone, Default)]
pub struct Backend {
    /// By click id.
    pub adjustments: HashMap<String, Adjusted>,
    /// By `YYYY-MM`.
    pub frozen: BTreeMap<String, FrozenMonth>,
    /// Only adjustments made before this time count (Unix seconds): what
    /// `freeze` uses to take its snapshot.
    pub adjusted_before: Option<u64>,
}

impl Backend {
    fn adjustment(&self, click_id: &str) -> Option<Adjusted> {
        self.adjustments
            .get(click_id)
            .copied()
            .filter(|a| self.adjusted_before.is_none_or(|t| a.time < t))
    }

    /// Counts one click into its group: once, with its adjustment; in a
    /// frozen month only as a credit, since the frozen totals stand.
    #[allow(clippy::too_many_arguments)]
    pub fn count(
        &self,
        rows: &mut Rows,
        key: Vec<String>,
        ts: &str,
        click_id: &str,
        verdict: &str,
        reason: &str,
        undecided: bool,
    ) {
        let adjusted = self.adjustment(click_id);
        if let Some(frozen) = ts.get(..7).and_then(|m| self.frozen.get(m)) {
            if verdict == "valid" && adjusted.is_some_and(|a| a.time > frozen.frozen_at) {
                rows.entry(key).or_default().credits += 1;
            }
            return;
        }
        let c = rows.entry(key).or_default();
        match (verdict, adjusted) {
            ("valid", Some(a)) => {
                c.invalid += 1;
                c.backend[a.reason.index()] += 1;
            }
            ("valid", None) => {
                c.valid += 1;
                c.undecided += u64::from(undecided);
            }
            ("invalid", _) => {
                c.invalid += 1;
                if let Some(i) = reason_index(reason) {
                    c.by_reason[i] += 1;
                }
            }
            ("test", _) => c.test += 1,
            _ => {}
        }
    }

    /// Adds the frozen months' totals to `rows`, grouped as `q` asks. A
    /// frozen month is read in whole UTC days: a day counts when `from`
    /// falls on or before it and `to` after its start.
    pub fn add_frozen(&self, rows: &mut Rows, q: &Query) {
        let day_at = GroupKey::Day.index();
        let from = q.from.map(|t| humantime::format_rfc3339(t).to_string());
        let to = q.to.map(|t| humantime::format_rfc3339(t).to_string());
        for month in self.frozen.values() {
            for (keys, counts) in &month.rows {
                let day = keys[day_at].as_str();
                if from.as_deref().is_some_and(|f| day < &f[..10])
                    || to.as_deref().is_some_and(|t| {
                        // `to` is exclusive: its own day counts only when
                        // `to` is past that day's midnight.
                        day > &t[..10] || (day == &t[..10] && t[10..].starts_with("T00:00:00"))
                    })
                {
                    continue;
                }
                let key = q.by.iter().map(|k| keys[k.index()].clone()).collect();
                rows.entry(key).or_default().add(counts);
            }
        }
    }
}

/// What to report.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    pub by: Vec<GroupKey>,
}

/// Group values (in `by` order) to counts, sorted by group.
pub type Rows = BTreeMap<Vec<String>, Counts>;

/// Accepts RFC 3339 (`2026-11-23T08:00:00Z`) or a date (`2026-11-23`, midnight UTC).
pub fn parse_time(s: &str) -> Result<SystemTime, String> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    humantime::parse_rfc3339_weak(full.trim_end_matches('Z'))
        .map_err(|e| format!("{s:?} is not a time like 2026-11-23 or 2026-11-23T08:00:00Z: {e}"))
}

/// A template click's platform, from its click-id parameter.
fn platform_of(param: &str) -> String {
    crate::click::Platform::of_param(param)
        .map_or_else(|| param.to_string(), |p| p.as_str().to_string())
}

fn reason_index(r: &str) -> Option<usize> {
    r.parse::<Reason>().ok().map(Reason::index)
}

/// Result of reading the local spool.
#[derive(Debug, Default)]
pub struct Local {
    pub rows: Rows,
    pub events: u64,
    pub damaged: u64,
}

/// Streams every well-formed click record under `<data_dir>/clicks/` whose
/// `ts` is in `[from, to)` to `each`; returns (records passed, damaged
/// records skipped). What `report`, `rescore` and `freeze` read locally.
pub fn each_local_click(
    data_dir: &Path,
    from: Option<SystemTime>,
    to: Option<SystemTime>,
    mut each: impl FnMut(&Record<'_>),
) -> std::io::Result<(u64, u64)> {
    let dir = data_dir.join("clicks");
    let (mut events, mut damaged) = (0, 0);
    if !dir.exists() {
        return Ok((0, 0));
    }
    let from = from.map(|t| humantime::format_rfc3339_millis(t).to_string());
    let to = to.map(|t| humantime::format_rfc3339_millis(t).to_string());
    let mut line = Vec::with_capacity(1024);
    for name in reader::segments(&dir)? {
        let file = match std::fs::File::open(dir.join(&name)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // shipped meanwhile
            Err(e) => return Err(e),
        };
        let mut r = BufReader::with_capacity(256 * 1024, file);
        loop {
            match reader::read_line(&mut r, &mut line, record::MAX_LINE, &mut |_| Ok(()))? {
                reader::Line::Whole => {}
                // A record still being written, or a torn tail.
                reader::Line::Unended | reader::Line::Eof => break,
                // No record is that long, not even one being written.
                reader::Line::TooLong { .. } => {
                    damaged += 1;
                    continue;
                }
            }
            let Some(body) = record::open(&line) else {
                damaged += 1;
                continue;
            };
            let mut json = body.to_vec();
            json.push(b'}');
            let Ok(f) = Record::parse(&json) else {
                damaged += 1;
                continue;
            };
            // A record whose checksum holds but whose time or verdict is
            // not one the edge writes is counted damaged, never guessed at.
            let (Some(ts), Some(verdict)) = (f.get(Field::Ts), f.get(Field::Verdict)) else {
                damaged += 1;
                continue;
            };
            if humantime::parse_rfc3339(ts).is_err()
                || !Verdict::ALL.iter().any(|v| v.as_str() == verdict)
            {
                damaged += 1;
                continue;
            }
            // RFC 3339 UTC with milliseconds sorts as text.
            if from.as_deref().is_some_and(|from| ts < from)
                || to.as_deref().is_some_and(|to| ts >= to)
            {
                continue;
            }
            each(&f);
            events += 1;
        }
    }
    Ok((events, damaged))
}

/// The report from the local spool, with the back end's adjustments and
/// frozen months applied.
pub fn local(data_dir: &Path, q: &Query, backend: &Backend) -> std::io::Result<Local> {
    let mut out = Local::default();
    let (events, damaged) = each_local_click(data_dir, q.from, q.to, |f| {
        let ts = f.text(Field::Ts);
        let key: Vec<String> =
            q.by.iter()
                .map(|k| match k.field() {
                    Field::Ts => ts.get(..10).unwrap_or("").to_string(),
                    Field::PlatformClickParam => platform_of(f.text(Field::PlatformClickParam)),
                    other => f.text(other).to_string(),
                })
                .collect();
        // Stored without an address or a user agent: retention never
        // empties either (an address becomes `[scrubbed]`), so this stays
        // what it was when the click was stored. The SQL below reads the same.
        let undecided = f.text(Field::Ip).is_empty() || f.text(Field::UserAgent).is_empty();
        backend.count(
            &mut out.rows,
            key,
            ts,
            f.text(Field::ClickId),
            f.text(Field::Verdict),
            f.text(Field::Reason),
            undecided,
        );
    })?;
    out.events = events;
    out.damaged = damaged;
    backend.add_frozen(&mut out.rows, q);
    Ok(out)
}

/// The ClickHouse table of adjustments, beside the click table.
pub const ADJUSTMENTS_TABLE: &str = "clickedge_adjustments";

/// The same report from ClickHouse: the click table read `FINAL`, joined
/// with the adjustments table, frozen months from `backend.frozen`.
pub fn clickhouse(
    sink: &crate::ship::sinks::ClickHouse,
    q: &Query,
    backend: &Backend,
) -> Result<Rows, String> {
    let keys: Vec<&str> = q.by.iter().map(|k| k.sql()).collect();
    let months: Vec<String> = backend.frozen.keys().map(|m| format!("'{m}'")).collect();
    let frozen = if months.is_empty() {
        "0".to_string()
    } else {
        format!("substring(ts, 1, 7) IN ({})", months.join(", "))
    };
    let frozen_at = if backend.frozen.is_empty() {
        "toUInt32(0)".to_string()
    } else {
        let mut arms: Vec<String> = backend
            .frozen
            .values()
            .map(|f| {
                format!(
                    "substring(ts, 1, 7) = '{}', toUInt32({})",
                    f.month, f.frozen_at
                )
            })
            .collect();
        arms.push("toUInt32(0)".into());
        format!("multiIf({})", arms.join(", "))
    };
    let live = |cond: &str| format!("countIf(NOT fz AND {cond})");
    let mut cols: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    cols.push(live("verdict = 'valid' AND adj = ''"));
    cols.push(live(
        "(verdict = 'invalid' OR (verdict = 'valid' AND adj != ''))",
    ));
    cols.push(live("verdict = 'test'"));
    cols.push(live(
        "verdict = 'valid' AND adj = '' AND (ip = '' OR user_agent = '')",
    ));
    cols.push("countIf(fz AND verdict = 'valid' AND adj != '' AND adj_time > frozen_at)".into());
    for r in Reason::ALL {
        cols.push(live(&format!(
            "verdict = 'invalid' AND reason = '{}'",
            r.as_str()
        )));
    }
    for r in BackendReason::ALL {
        cols.push(live(&format!(
            "verdict = 'valid' AND adj = '{}'",
            r.as_str()
        )));
    }
    let mut wher = Vec::new();
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    // `time` has whole seconds; `ts` keeps the milliseconds for exact bounds.
    if let Some(f) = q.from {
        wher.push(format!(
            "time >= toDateTime({}) AND ts >= '{}'",
            secs(f),
            humantime::format_rfc3339_millis(f)
        ));
    }
    if let Some(t) = q.to {
        wher.push(format!(
            "time <= toDateTime({}) AND ts < '{}'",
            secs(t),
            humantime::format_rfc3339_millis(t)
        ));
    }
    let adjusted_before = backend
        .adjusted_before
        .map(|t| format!(" WHERE time < {t}"))
        .unwrap_or_default();
    let mut sql = format!(
        "SELECT {cols} FROM (SELECT *, {frozen} AS fz, {frozen_at} AS frozen_at FROM \
         (SELECT click_id, ts, campaign, publisher, device, country, platform_click_param, \
         verdict, reason, ip, user_agent FROM {table} FINAL{wher}) \
         ANY LEFT JOIN (SELECT click_id, argMin(reason, time) AS adj, min(time) AS adj_time \
         FROM {adjustments}{adjusted_before} GROUP BY click_id) USING click_id)",
        cols = cols.join(", "),
        table = sink.table_name(),
        wher = if wher.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wher.join(" AND "))
        },
        adjustments = sink.sibling(ADJUSTMENTS_TABLE),
    );
    if !keys.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
    }
    sql.push_str(" FORMAT TSV");
    let text = sink.query(&sql)?;
    let mut rows = Rows::new();
    let n = keys.len();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != n + 5 + Reason::COUNT + BackendReason::COUNT {
            return Err(format!("unexpected answer from ClickHouse: {line:?}"));
        }
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        let mut c = Counts {
            valid: num(f[n])?,
            invalid: num(f[n + 1])?,
            test: num(f[n + 2])?,
            undecided: num(f[n + 3])?,
            credits: num(f[n + 4])?,
            ..Counts::default()
        };
        for (i, count) in c.by_reason.iter_mut().enumerate() {
            *count = num(f[n + 5 + i])?;
        }
        for (i, count) in c.backend.iter_mut().enumerate() {
            *count = num(f[n + 5 + Reason::COUNT + i])?;
        }
        if c.valid + c.invalid + c.test + c.credits == 0 {
            continue; // an empty table still answers one row without GROUP BY
        }
        let key = f[..n].iter().map(|s| unescape_tsv(s)).collect();
        rows.insert(key, c);
    }
    backend.add_frozen(&mut rows, q);
    Ok(rows)
}

/// Undoes ClickHouse's TSV escaping of a field.
pub fn unescape_tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            o => Err(format!("--format {o:?}: use table, json or csv")),
        }
    }
}

/// Writes the report. No `--by` gives one row of totals (zeros when empty).
pub fn write(
    out: &mut dyn Write,
    by: &[GroupKey],
    rows: &Rows,
    format: Format,
) -> std::io::Result<()> {
    let mut rows: Vec<(Vec<String>, Counts)> =
        rows.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
    if by.is_empty() && rows.is_empty() {
        rows.push((Vec::new(), Counts::default()));
    }
    let mut header: Vec<String> = by.iter().map(|k| k.name().to_string()).collect();
    header.extend(
        [
            "gross_clicks",
            "valid_clicks",
            "invalid_clicks",
            "test_clicks",
            "backend_invalid_clicks",
            "credit_clicks",
            "decision_rate",
        ]
        .map(String::from),
    );
    let reason_names: Vec<&str> = Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(BackendReason::ALL.iter().map(|r| r.as_str()))
        .collect();
    let reason_cols: Vec<String> = reason_names
        .iter()
        .map(|r| format!("invalid_{r}"))
        .collect();
    let values = |k: &[String], c: &Counts| -> Vec<String> {
        let mut v: Vec<String> = k.to_vec();
        v.extend(
            [
                c.gross(),
                c.valid,
                c.invalid,
                c.test,
                c.backend_invalid(),
                c.credits,
            ]
            .map(|n| n.to_string()),
        );
        v.push(
            c.decision_rate()
                .map_or_else(String::new, |r| format!("{r:.4}")),
        );
        v.extend(c.by_reason.iter().chain(&c.backend).map(|n| n.to_string()));
        v
    };
    match format {
        Format::Json => {
            let arr: Vec<serde_json::Value> = rows
                .iter()
                .map(|(k, c)| {
                    let mut o = serde_json::Map::new();
                    for (name, v) in by.iter().zip(k) {
                        o.insert(name.name().into(), v.clone().into());
                    }
                    o.insert("gross_clicks".into(), c.gross().into());
                    o.insert("valid_clicks".into(), c.valid.into());
                    o.insert("invalid_clicks".into(), c.invalid.into());
                    o.insert("test_clicks".into(), c.test.into());
                    o.insert("backend_invalid_clicks".into(), c.backend_invalid().into());
                    o.insert("credit_clicks".into(), c.credits.into());
                    o.insert("decision_rate".into(), c.decision_rate().into());
                    let reasons: serde_json::Map<String, serde_json::Value> = reason_names
                        .iter()
                        .zip(c.by_reason.iter().chain(&c.backend))
                        .map(|(r, n)| (r.to_string(), (*n).into()))
                        .collect();
                    o.insert("invalid_by_reason".into(), reasons.into());
                    o.into()
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &arr)?;
            writeln!(out)
        }
        Format::Csv => {
            let mut h = header.clone();
            h.extend(reason_cols);
            writeln!(out, "{}", h.join(","))?;
            for (k, c) in &rows {
                let v: Vec<String> = values(k, c).iter().map(|s| csv_field(s)).collect();
                writeln!(out, "{}", v.join(","))?;
            }
            Ok(())
        }
        Format::Table => {
            let mut h = header.clone();
            h.extend(reason_names.iter().map(|r| r.to_string()));
            let body: Vec<Vec<String>> = rows.iter().map(|(k, c)| values(k, c)).collect();
            let widths: Vec<usize> = (0..h.len())
                .map(|i| {
                    body.iter()
                        .map(|r| r[i].len())
                        .chain([h[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: &[String]| -> String {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i < by.len() {
                            format!("{c:<w$}", w = widths[i])
                        } else {
                            format!("{c:>w$}", w = widths[i])
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", line(&h))?;
            for r in &body {
                writeln!(out, "{}", line(r))?;
            }
            Ok(())
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: &str, campaign: &str, verdict: &str, reason: &str) -> Vec<u8> {
        let mut r = format!(
            "{{\"ts\":\"{ts}\",\"click_id\":\"x\",\"campaign\":\"{campaign}\",\"publisher\":\"p\",\"verdict\":\"{verdict}\",\"reason\":\"{reason}\",\"device\":\"mobile\",\"country\":\"\"}}"
        )
        .into_bytes();
        record::seal(&mut r);
        r
    }

    #[test]
    fn counts_group_and_range() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        let mut data = Vec::new();
        data.extend(rec("2026-11-01T10:00:00.000Z", "a", "valid", ""));
        data.extend(rec("2026-11-01T11:00:00.000Z", "a", "invalid", "known_bot"));
        data.extend(rec("2026-11-02T10:00:00.000Z", "b", "invalid", "duplicate"));
        data.extend(rec("2026-11-02T10:00:00.500Z", "b", "test", "test_click"));
        data.extend(rec("2026-11-03T00:00:00.000Z", "b", "valid", ""));
        data.extend(rec("yesterday", "a", "valid", ""));
        data.extend(rec("2026-11-01T10:00:00.000Z", "a", "maybe", ""));
        data.extend(b"{\"torn\":");
        std::fs::write(dir.path().join("clicks/1-1-0001.ndjson"), data).unwrap();

        // A directory named like a segment is no segment.
        std::fs::create_dir_all(dir.path().join("clicks/0-0-0000.ndjson")).unwrap();
        let all = local(dir.path(), &Query::default(), &Backend::default()).unwrap();
        assert_eq!(all.damaged, 2, "the nonsense time and the unknown verdict");
        let t = &all.rows[&Vec::<String>::new()];
        assert_eq!((t.gross(), t.valid, t.invalid, t.test), (4, 2, 2, 1));
        assert_eq!(t.by_reason[Reason::KnownBot as usize], 1);
        assert_eq!(t.by_reason[Reason::Duplicate as usize], 1);

        let q = Query {
            from: Some(parse_time("2026-11-01").unwrap()),
            to: Some(parse_time("2026-11-03").unwrap()),
            by: vec![GroupKey::Campaign, GroupKey::Day],
        };
        let r = local(dir.path(), &q, &Backend::default()).unwrap().rows;
        assert_eq!(r.len(), 2);
        let a = &r[&vec!["a".to_string(), "2026-11-01".to_string()]];
        assert_eq!((a.gross(), a.valid, a.invalid), (2, 1, 1));
        let b = &r[&vec!["b".to_string(), "2026-11-02".to_string()]];
        assert_eq!((b.gross(), b.test), (1, 1));
    }

    #[test]
    fn formats() {
        let mut rows = Rows::new();
        let mut c = Counts {
            valid: 3,
            invalid: 2,
            test: 1,
            ..Counts::default()
        };
        c.by_reason[Reason::Prefetch as usize] = 2;
        rows.insert(vec!["spring, \"sale\"".into()], c);
        let by = [GroupKey::Campaign];
        let mut j = Vec::new();
        write(&mut j, &by, &rows, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v[0]["campaign"], "spring, \"sale\"");
        assert_eq!(v[0]["gross_clicks"], 5);
        assert_eq!(v[0]["invalid_by_reason"]["prefetch"], 2);
        assert_eq!(v[0]["invalid_by_reason"]["click_flood"], 0);
        assert_eq!(v[0]["decision_rate"], 1.0);
        let mut csv = Vec::new();
        write(&mut csv, &by, &rows, Format::Csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with(
            "campaign,gross_clicks,valid_clicks,invalid_clicks,test_clicks,\
             backend_invalid_clicks,credit_clicks,decision_rate,invalid_prefetch,"
        ));
        assert!(csv.contains("\"spring, \"\"sale\"\"\",5,3,2,1,0,0,1.0000,2,"));
        assert!(
            csv.trim_end().ends_with(",0,0,0,0"),
            "the back-end reasons last: {csv}"
        );
        let mut t = Vec::new();
        write(&mut t, &[], &Rows::new(), Format::Table).unwrap();
        assert!(String::from_utf8(t)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim_start()
            .starts_with('0'));
    }

    #[test]
    fn times_and_keys() {
        assert!(parse_time("2026-11-23").is_ok());
        assert!(parse_time("2026-11-23T08:00:00Z").is_ok());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(GroupKey::parse("day"), Ok(GroupKey::Day));
        assert!(GroupKey::parse("ip").is_err());
    }
}
