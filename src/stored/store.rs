//! Where the after-the-fact work reads clicks and keeps its records: the
//! local data dir or ClickHouse ([`Store`]), each holding the same things.
//! Adjustments are appended and never rewritten; state documents (frozen
//! months, the strike ladder) are kept in versions, the latest read.

use super::activity::StoredClick;
use super::clickhouse::{self as ch, escape_tsv, unescape_tsv, ClickHouseError};
use super::report::{self, Adjusted, Amendments, FrozenError, FrozenMonth, Query, Report};
use crate::closed_set::closed_set;
use crate::event::Field;
use crate::files::FileError;
use crate::ivt::{BackendReason, Verdict};
use crate::ship::sinks::ClickHouse;
use crate::spool::record;
use crate::time;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The back end's ClickHouse tables, created when missing.
pub(crate) const CLICKHOUSE_SQL: &str = include_str!("../../conf/clickhouse/backend.sql");

/// The conversions table, created when missing so a report or an export
/// reads an empty one before the first conversion is shipped.
const CONVERSIONS_SQL: &str = include_str!("../../conf/clickhouse/conversions.sql");

/// The ClickHouse table of the back end's state documents (frozen months,
/// the strike ladder).
const STATE_TABLE: &str = "clickedge_state";

/// What went wrong reading or writing the store, with the file, line,
/// click or answer concerned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("reading {}: {error}", dir.display())]
    ReadSpool { dir: PathBuf, error: std::io::Error },
    #[error("{} line {line}: {error}", path.display())]
    AdjustmentUnread {
        path: PathBuf,
        line: u64,
        error: std::io::Error,
    },
    #[error(
        "{} line {line}: longer than any adjustment can be ({} bytes or more)",
        path.display(),
        record::MAX_LINE + 1
    )]
    AdjustmentTooLong { path: PathBuf, line: u64 },
    #[error("{} line {line}: {error}", path.display())]
    AdjustmentNotJson {
        path: PathBuf,
        line: u64,
        error: serde_json::Error,
    },
    #[error("adjustment of {click_id} with unknown reason {reason:?}")]
    UnknownReason { click_id: String, reason: String },
    #[error("{0}")]
    Encode(serde_json::Error),
    #[error("{0}")]
    Write(FileError),
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    /// The report's query, answered or not.
    #[error("ClickHouse: {0}")]
    Report(ClickHouseError),
    #[error(transparent)]
    Frozen(#[from] FrozenError),
}

// By hand rather than `#[from]`, which would make the error a `source` as
// well as its message: `{:#}` would print it twice.
impl From<FileError> for StoreError {
    fn from(e: FileError) -> Self {
        StoreError::Write(e)
    }
}

/// One adjustment: a click found invalid after the fact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Adjustment {
    pub click_id: String,
    #[serde(serialize_with = "reason_name")]
    pub reason: BackendReason,
    pub rule: String,
    pub run: String,
    /// Unix seconds.
    pub time: u64,
}

fn reason_name<S: serde::Serializer>(r: &BackendReason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// An adjustment as stored, its reason a name still to be checked.
#[derive(serde::Deserialize)]
struct StoredAdjustment {
    click_id: String,
    reason: String,
    rule: String,
    run: String,
    time: u64,
}

impl StoredAdjustment {
    fn checked(self) -> Result<Adjustment, StoreError> {
        let Ok(reason) = self.reason.parse::<BackendReason>() else {
            return Err(StoreError::UnknownReason {
                click_id: self.click_id,
                reason: self.reason,
            });
        };
        Ok(Adjustment {
            click_id: self.click_id,
            reason,
            rule: self.rule,
            run: self.run,
            time: self.time,
        })
    }
}

closed_set! {
    /// The kinds of state document the store keeps, each in versions.
    pub enum StateKind {
        /// A frozen month ([`FrozenMonth`]), keyed by `YYYY-MM`.
        Frozen,
        /// The strike ladder, one document.
        Strikes,
    }
}

/// Where the clicks and the back end's records are.
pub(crate) enum Store {
    /// The local data dir: clicks under `clicks/`, adjustments under
    /// `adjustments/`, state under `state/`.
    Local(PathBuf),
    ClickHouse(ClickHouse),
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

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Appends the adjustments of one local file to `all`, a line at a time.
/// The back end writes these files whole, so a line that is not an
/// adjustment is an error, never skipped; one longer than any record (an
/// adjustment holds one click's id and a few short names) is refused
/// without being held.
fn read_adjustments(p: &Path, all: &mut Vec<StoredAdjustment>) -> Result<(), StoreError> {
    use crate::spool::reader::{read_line, Line};
    let file = std::fs::File::open(p).map_err(io_at(p))?;
    let mut r = std::io::BufReader::new(file);
    let mut line = Vec::new();
    for n in 1.. {
        let path = || p.to_path_buf();
        match read_line(&mut r, &mut line, record::MAX_LINE, &mut |_| Ok(())) {
            Err(error) => {
                return Err(StoreError::AdjustmentUnread {
                    path: path(),
                    line: n,
                    error,
                })
            }
            Ok(Line::Eof) => break,
            Ok(Line::TooLong { .. }) => {
                return Err(StoreError::AdjustmentTooLong {
                    path: path(),
                    line: n,
                })
            }
            Ok(Line::Whole | Line::Unended) => {
                all.push(serde_json::from_slice(&line).map_err(|error| {
                    StoreError::AdjustmentNotJson {
                        path: path(),
                        line: n,
                        error,
                    }
                })?)
            }
        }
    }
    Ok(())
}

impl Store {
    /// Creates the back end's ClickHouse tables when missing; nothing to
    /// do locally.
    pub(crate) fn prepare(&self) -> Result<(), StoreError> {
        if let Store::ClickHouse(c) = self {
            for file in [CLICKHOUSE_SQL, CONVERSIONS_SQL] {
                let sql: Vec<&str> = file
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect();
                for stmt in sql.join("\n").split(';').filter(|s| !s.trim().is_empty()) {
                    if stmt.trim_start().starts_with("CREATE DATABASE") {
                        continue; // the click table's database is there
                    }
                    let stmt = stmt.replace("clickedge.", &format!("{}.", c.database()));
                    ch::query(c, &stmt)?;
                }
            }
        }
        Ok(())
    }

    /// The counted (valid) clicks with `ts` in `[from, to)`.
    pub(crate) fn counted_clicks(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<StoredClick>, StoreError> {
        match self {
            Store::Local(dir) => local_counted_clicks(dir, from, to),
            Store::ClickHouse(c) => clickhouse_counted_clicks(c, from, to),
        }
    }

    /// Every adjustment, the first one per click (by time, then run).
    pub(crate) fn adjustments(&self) -> Result<HashMap<String, Adjusted>, StoreError> {
        let mut all: Vec<StoredAdjustment> = Vec::new();
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
            Store::ClickHouse(c) => {
                let sql = format!(
                    "SELECT click_id, reason, rule, run, time FROM {} FORMAT TSV",
                    c.sibling(report::ADJUSTMENTS_TABLE)
                );
                for line in ch::query(c, &sql)?.lines() {
                    let f: Vec<String> = line.split('\t').map(unescape_tsv).collect();
                    let [click_id, reason, rule, run, time] = f.as_slice() else {
                        return Err(ch::unexpected(line).into());
                    };
                    all.push(StoredAdjustment {
                        click_id: click_id.clone(),
                        reason: reason.clone(),
                        rule: rule.clone(),
                        run: run.clone(),
                        time: ch::number(time)?,
                    });
                }
            }
        }
        all.sort_by(|a, b| (a.time, &a.run).cmp(&(b.time, &b.run)));
        let mut map = HashMap::new();
        for a in all {
            let a = a.checked()?;
            map.entry(a.click_id).or_insert(Adjusted {
                reason: a.reason,
                time: a.time,
            });
        }
        Ok(map)
    }

    /// Appends one run's adjustments: one new file locally (written whole,
    /// then renamed into place), one insert into ClickHouse.
    pub(crate) fn append_adjustments(
        &self,
        run: &str,
        adj: &[Adjustment],
    ) -> Result<(), StoreError> {
        if adj.is_empty() {
            return Ok(());
        }
        match self {
            Store::Local(dir) => {
                let d = dir.join("adjustments");
                std::fs::create_dir_all(&d).map_err(io_at(&d))?;
                let mut text = String::new();
                for a in adj {
                    text.push_str(&serde_json::to_string(a).map_err(StoreError::Encode)?);
                    text.push('\n');
                }
                crate::files::replace_whole(&d.join(format!("{run}.ndjson")), text.as_bytes())?;
                Ok(())
            }
            Store::ClickHouse(c) => {
                let mut sql = format!(
                    "INSERT INTO {} (click_id, reason, rule, run, time) FORMAT TSV\n",
                    c.sibling(report::ADJUSTMENTS_TABLE)
                );
                for a in adj {
                    sql.push_str(&format!(
                        "{}\t{}\t{}\t{}\t{}\n",
                        escape_tsv(&a.click_id),
                        escape_tsv(a.reason.as_str()),
                        escape_tsv(&a.rule),
                        escape_tsv(&a.run),
                        a.time
                    ));
                }
                ch::query(c, &sql)?;
                Ok(())
            }
        }
    }

    /// The latest version of each state document of a kind, by key.
    pub(crate) fn states(&self, kind: StateKind) -> Result<BTreeMap<String, String>, StoreError> {
        let mut out = BTreeMap::new();
        match self {
            Store::Local(dir) => {
                let d = dir.join("state").join(kind.as_str());
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
                    let body = std::fs::read_to_string(&p).map_err(io_at(&p))?;
                    out.insert(key.to_string(), body);
                }
            }
            Store::ClickHouse(c) => {
                let sql = format!(
                    "SELECT key, argMax(body, version) FROM {} WHERE kind = '{}' \
                     GROUP BY key FORMAT TSV",
                    c.sibling(STATE_TABLE),
                    kind.as_str()
                );
                for line in ch::query(c, &sql)?.lines() {
                    let Some((k, body)) = line.split_once('\t') else {
                        return Err(ch::unexpected(line).into());
                    };
                    out.insert(unescape_tsv(k), unescape_tsv(body));
                }
            }
        }
        Ok(out)
    }

    /// Stores a new version of a state document. `key` is a short id
    /// (a month, `ladder`).
    pub(crate) fn put_state(
        &self,
        kind: StateKind,
        key: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Local(dir) => {
                let d = dir.join("state").join(kind.as_str());
                std::fs::create_dir_all(&d).map_err(io_at(&d))?;
                crate::files::replace_whole(&d.join(format!("{key}.json")), body.as_bytes())?;
                Ok(())
            }
            Store::ClickHouse(c) => {
                let version = time::unix_nanos(SystemTime::now());
                let sql = format!(
                    "INSERT INTO {} (kind, key, version, body) FORMAT TSV\n{}\t{}\t{}\t{}\n",
                    c.sibling(STATE_TABLE),
                    escape_tsv(kind.as_str()),
                    escape_tsv(key),
                    version,
                    escape_tsv(body)
                );
                ch::query(c, &sql)?;
                Ok(())
            }
        }
    }

    /// What a report needs from the after-the-fact work: the frozen
    /// months, and locally the adjustments (ClickHouse joins its own
    /// table, created here when missing, as the state table is).
    pub(crate) fn amendments(&self) -> Result<Amendments, StoreError> {
        self.prepare()?;
        let mut a = Amendments::default();
        for (month, body) in self.states(StateKind::Frozen)? {
            a.frozen.insert(month, FrozenMonth::from_json(&body)?);
        }
        if let Store::Local(_) = self {
            a.adjustments = self.adjustments()?;
        }
        Ok(a)
    }

    /// The report, with adjustments and frozen months.
    pub(crate) fn report(&self, q: &Query, amendments: &Amendments) -> Result<Report, StoreError> {
        match self {
            Store::Local(dir) => {
                let local =
                    report::local(dir, q, amendments).map_err(|error| StoreError::ReadSpool {
                        dir: dir.clone(),
                        error,
                    })?;
                if local.damaged > 0 {
                    eprintln!("clickedge: skipped {} damaged records", local.damaged);
                }
                Ok(local.report)
            }
            Store::ClickHouse(c) => {
                report::clickhouse(c, q, amendments).map_err(StoreError::Report)
            }
        }
    }
}

/// [`Store::counted_clicks`] from the local spool.
fn local_counted_clicks(
    dir: &Path,
    from: SystemTime,
    to: SystemTime,
) -> Result<Vec<StoredClick>, StoreError> {
    let mut out = Vec::new();
    let (_, damaged) = report::each_local_click(dir, Some(from), Some(to), |f| {
        if f.text(Field::Verdict) != Verdict::Valid.as_str() {
            return;
        }
        if let Some(ms) = time::rfc3339_ms(f.text(Field::Ts)) {
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
    .map_err(io_at(dir))?;
    if damaged > 0 {
        eprintln!("clickedge: skipped {damaged} damaged records");
    }
    Ok(out)
}

/// [`Store::counted_clicks`] from ClickHouse.
fn clickhouse_counted_clicks(
    c: &ClickHouse,
    from: SystemTime,
    to: SystemTime,
) -> Result<Vec<StoredClick>, StoreError> {
    let sql = format!(
        "SELECT click_id, ts, campaign, publisher, impression, platform_click_id, \
         ip, user_agent \
         FROM {} FINAL WHERE verdict = 'valid' AND time >= toDateTime({}) \
         AND time <= toDateTime({}) AND ts >= '{}' AND ts < '{}' FORMAT TSV",
        c.table_name(),
        time::unix_secs(from),
        time::unix_secs(to),
        time::rfc3339_millis(from),
        time::rfc3339_millis(to),
    );
    let mut out = Vec::new();
    for line in ch::query(c, &sql)?.lines() {
        let f: Vec<String> = line.split('\t').map(unescape_tsv).collect();
        let [id, ts, campaign, publisher, impression, platform_click_id, ip, ua] = f.as_slice()
        else {
            return Err(ch::unexpected(line).into());
        };
        let Some(ms) = time::rfc3339_ms(ts) else {
            continue;
        };
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
    Ok(out)
}
