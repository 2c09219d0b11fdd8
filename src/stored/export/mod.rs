//! `clickedge conversions export` (docs/contract.md §9): the ad platform's
//! offline-conversion import file, from the data dir or ClickHouse.
//!
//! A conversion is written for a platform only when all of these hold, in
//! this order (the first that fails is the reason it is withheld):
//! 1. it is attributed ([`Class::Attributed`]: its click is stored valid,
//!    no adjustment invalidated it, and it is within the window);
//! 2. its click carried that platform's click id (`platform_click_param`
//!    is `gclid` for Google, `msclkid` for Microsoft; `gbraid`/`wbraid`
//!    are not Google Click IDs and are withheld too);
//! 3. its click's `data_use` is exactly `standard` (never `opted_out`,
//!    `child_directed`, or empty: a click written before the field was
//!    recorded said nothing either way, so nothing is assumed);
//! 4. its `consent` is not `denied`;
//! 5. it was not exported to that platform before (the [`ledger`]).
//!
//! The file is written whole under a hidden name, synced and given its
//! name (an existing file is never replaced: it may not be uploaded yet);
//! only then is the ledger written. A crash between the two leaves a file
//! whose conversions go out again in the next one, never a conversion
//! marked exported that is in no file.

pub(crate) mod ledger;

use crate::click::Platform;
use crate::config::ActionConfig;
use crate::conversion::record::Conversion;
use crate::event::Field;
use crate::files::FileError;
use crate::ivt::Verdict;
use crate::ship::sinks::ClickHouse;
use crate::stored::clickhouse::{self as ch, unescape_tsv, ClickHouseError};
use crate::stored::report::conversions::{self as conv, Class};
use crate::stored::report::{self, Adjusted};
use crate::stored::{Store, StoreError};
use crate::time;
use ledger::{Ledger, LedgerError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why a conversion was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withheld {
    NotAttributed,
    NoPlatformClickId,
    DataUse,
    Consent,
    AlreadyExported,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Exported {
    pub written: u64,
    pub not_attributed: u64,
    pub no_platform_click_id: u64,
    pub data_use: u64,
    pub consent: u64,
    pub already_exported: u64,
}

impl Exported {
    fn withhold(&mut self, w: Withheld) {
        *match w {
            Withheld::NotAttributed => &mut self.not_attributed,
            Withheld::NoPlatformClickId => &mut self.no_platform_click_id,
            Withheld::DataUse => &mut self.data_use,
            Withheld::Consent => &mut self.consent,
            Withheld::AlreadyExported => &mut self.already_exported,
        } += 1;
    }
}

/// Why the export did not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error(
        "{} exists: an earlier export may not be uploaded yet; give a new --out",
        path.display()
    )]
    OutExists { path: PathBuf },
    #[error("{0}")]
    Write(FileError),
    #[error("reading {}: {error}", dir.display())]
    ReadSpool { dir: PathBuf, error: std::io::Error },
    #[error("ClickHouse: {0}")]
    ClickHouse(ClickHouseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger of exported conversions: {0}")]
    Ledger(#[from] LedgerError),
}

impl From<FileError> for ExportError {
    fn from(e: FileError) -> Self {
        ExportError::Write(e)
    }
}

impl From<ClickHouseError> for ExportError {
    fn from(e: ClickHouseError) -> Self {
        ExportError::ClickHouse(e)
    }
}

/// What to export.
pub(crate) struct ExportQuery<'a> {
    pub platform: Platform,
    /// On the conversion's `time`, `from <= time < to`.
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    pub window_days: u32,
    /// `conversions.actions`: the name each conversion is exported under.
    pub actions: &'a BTreeMap<String, ActionConfig>,
    pub out: &'a Path,
}

/// What an export reads of a conversion's click.
#[derive(Debug, Clone)]
pub(crate) struct ClickFacts {
    pub verdict: Verdict,
    pub adjusted: bool,
    pub ms: i64,
    pub param: String,
    pub platform_click_id: String,
    pub data_use: String,
}

/// Whether `c` goes to `platform`, before the ledger is asked.
pub(crate) fn allowed(
    c: &Conversion,
    click: Option<&ClickFacts>,
    platform: Platform,
    window_days: u32,
) -> Result<(), Withheld> {
    let Some(k) = click else {
        return Err(Withheld::NotAttributed);
    };
    let ms = conv::time_ms(&c.time).unwrap_or(i64::MIN);
    if conv::classify(k.verdict, k.adjusted, k.ms, ms, window_days) != Class::Attributed {
        return Err(Withheld::NotAttributed);
    }
    if k.param != platform.click_param() || k.platform_click_id.is_empty() {
        return Err(Withheld::NoPlatformClickId);
    }
    if k.data_use != crate::event::DataUse::Standard.as_str() {
        return Err(Withheld::DataUse);
    }
    if c.consent == "denied" {
        return Err(Withheld::Consent);
    }
    Ok(())
}

/// Writes the platform's import file for the conversions in range that
/// are allowed and new, then records them in the ledger.
pub(crate) fn export(
    store: &Store,
    q: &ExportQuery<'_>,
    now: SystemTime,
) -> Result<Exported, ExportError> {
    if std::fs::symlink_metadata(q.out).is_ok() {
        return Err(ExportError::OutExists {
            path: q.out.to_path_buf(),
        });
    }
    let (conversions, clicks, ledger) = match store {
        Store::Local(dir) => {
            let (c, k) = read_local(dir, q, store)?;
            (c, k, Ledger::local(dir, q.platform))
        }
        Store::ClickHouse(c) => {
            store.prepare()?;
            let (convs, clicks) = read_clickhouse(c, q)?;
            (convs, clicks, Ledger::ClickHouse(c))
        }
    };
    let done = ledger.read(q.platform)?;
    let mut out = Exported::default();
    let mut rows: Vec<&Conversion> = Vec::new();
    for c in &conversions {
        let verdict = allowed(c, clicks.get(&c.click_id), q.platform, q.window_days).and_then(
            |()| match done.contains(&c.conversion_id) {
                true => Err(Withheld::AlreadyExported),
                false => Ok(()),
            },
        );
        match verdict {
            Ok(()) => rows.push(c),
            Err(w) => out.withhold(w),
        }
    }
    rows.sort_by(|a, b| (&a.time, &a.conversion_id).cmp(&(&b.time, &b.conversion_id)));
    let text = file_text(q, &rows, &clicks);
    write_new(q.out, &text)?;
    let ids: Vec<String> = rows.iter().map(|c| c.conversion_id.clone()).collect();
    ledger.append(q.platform, &ids, time::unix_secs(now))?;
    out.written = rows.len() as u64;
    Ok(out)
}

/// The import file: the time-zone line, the header, a row per conversion.
fn file_text(
    q: &ExportQuery<'_>,
    rows: &[&Conversion],
    clicks: &HashMap<String, ClickFacts>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let id_column = match q.platform {
        Platform::Google => "Google Click ID",
        Platform::Microsoft => "Microsoft Click ID",
    };
    let _ = writeln!(out, "Parameters:TimeZone=+0000");
    let _ = writeln!(
        out,
        "{id_column},Conversion Name,Conversion Time,Conversion Value,Conversion Currency"
    );
    for c in rows {
        let click_id = clicks
            .get(&c.click_id)
            .map_or("", |k| k.platform_click_id.as_str());
        let name = match q.actions.get(&c.event) {
            Some(a) if !a.label.is_empty() => a.label.as_str(),
            _ => c.event.as_str(),
        };
        // `YYYY-MM-DDTHH:MM:SS.mmmZ` (checked when read) to `YYYY-MM-DD HH:MM:SS`.
        let when = format!(
            "{} {}",
            c.time.get(..10).unwrap_or(""),
            c.time.get(11..19).unwrap_or("")
        );
        let (value, currency) =
            conv::value_of(c).map_or((String::new(), ""), |(cur, a)| (a.to_string(), cur));
        let cells = [click_id, name, &when, &value, currency];
        let cells: Vec<String> = cells.iter().map(|s| report::csv_field(s)).collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// Writes `text` to `path` whole and synced, under a hidden name first;
/// `path` must not exist.
fn write_new(path: &Path, text: &[u8]) -> Result<(), ExportError> {
    let at = |error| FileError {
        path: path.to_path_buf(),
        error,
    };
    let mut r = crate::files::Replacement::new(path)?;
    r.file().write_all(text).map_err(at)?;
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(ExportError::OutExists {
            path: path.to_path_buf(),
        });
    }
    r.commit()?;
    Ok(())
}

/// The conversions in range and their clicks, from a data dir.
fn read_local(
    dir: &Path,
    q: &ExportQuery<'_>,
    store: &Store,
) -> Result<(Vec<Conversion>, HashMap<String, ClickFacts>), ExportError> {
    let spool_err = |error| ExportError::ReadSpool {
        dir: dir.to_path_buf(),
        error,
    };
    let from = q.from.map(|t| time::rfc3339_millis(t).to_string());
    let to = q.to.map(|t| time::rfc3339_millis(t).to_string());
    let all = conv::read_local(dir).map_err(spool_err)?;
    let conversions: Vec<Conversion> = all
        .all()
        .filter(|c| {
            from.as_deref().is_none_or(|f| c.time.as_str() >= f)
                && to.as_deref().is_none_or(|t| c.time.as_str() < t)
        })
        .cloned()
        .collect();
    let wanted: HashSet<&str> = conversions.iter().map(|c| c.click_id.as_str()).collect();
    let adjustments: HashMap<String, Adjusted> = store.adjustments()?;
    let mut clicks = HashMap::new();
    report::each_local_click(dir, None, None, |f| {
        let id = f.text(Field::ClickId);
        let platform_id = f.text(Field::PlatformClickId);
        // Keyed by the edge's click id, or by the platform's (parallel
        // tracking): the click's facts under each key a conversion used.
        let keys: Vec<&str> = [id, platform_id]
            .into_iter()
            .filter(|k| !k.is_empty() && wanted.contains(k))
            .collect();
        if keys.is_empty() {
            return;
        }
        let (Ok(verdict), Some(ms)) = (
            f.text(Field::Verdict).parse::<Verdict>(),
            time::rfc3339_ms(f.text(Field::Ts)),
        ) else {
            return;
        };
        let facts = ClickFacts {
            verdict,
            adjusted: adjustments.contains_key(id),
            ms,
            param: f.text(Field::PlatformClickParam).to_string(),
            platform_click_id: platform_id.to_string(),
            data_use: f.text(Field::DataUse).to_string(),
        };
        for k in keys {
            if k == id {
                clicks.insert(k.to_string(), facts.clone());
            } else {
                // The first click that carried the platform's id, as the
                // report takes it (a repeat is a later, duplicate click).
                clicks.entry(k.to_string()).or_insert_with(|| facts.clone());
            }
        }
    })
    .map_err(spool_err)?;
    Ok((conversions, clicks))
}

/// The conversions in range and their clicks, from ClickHouse: the same
/// conversions as [`conv::read_local`] keeps, joined to their clicks
/// (read `FINAL`) and those clicks' adjustments.
fn read_clickhouse(
    c: &ClickHouse,
    q: &ExportQuery<'_>,
) -> Result<(Vec<Conversion>, HashMap<String, ClickFacts>), ExportError> {
    let mut wher = vec!["1".to_string()];
    if let Some(f) = q.from {
        wher.push(format!("c_time >= '{}'", time::rfc3339_millis(f)));
    }
    if let Some(t) = q.to {
        wher.push(format!("c_time < '{}'", time::rfc3339_millis(t)));
    }
    let convs = format!(
        "(SELECT * FROM {} WHERE {})",
        report::conversions_once(c),
        wher.join(" AND ")
    );
    let sql = format!(
        "SELECT c_conversion_id, click_id, c_event, c_time, c_value, c_currency, c_consent, \
         verdict, adj, ts, platform_click_param, platform_click_id, data_use \
         FROM {convs} ANY LEFT JOIN \
         (SELECT click_id, ts, verdict, platform_click_param, platform_click_id, data_use, adj \
          FROM (SELECT click_id, ts, verdict, platform_click_param, platform_click_id, data_use \
                FROM {clicks} FINAL WHERE click_id IN (SELECT click_id FROM {convs})) \
          ANY LEFT JOIN (SELECT click_id, 'x' AS adj FROM {adjustments} GROUP BY click_id) \
          USING click_id) USING click_id FORMAT TSV",
        clicks = c.table_name(),
        adjustments = c.sibling(report::ADJUSTMENTS_TABLE),
    );
    let mut conversions = Vec::new();
    let mut clicks = HashMap::new();
    for line in ch::query(c, &sql)?.lines() {
        let f: Vec<String> = line.split('\t').map(unescape_tsv).collect();
        let [id, click_id, event, t, value, currency, consent, verdict, adj, ts, param, pcid, data_use] =
            f.as_slice()
        else {
            return Err(ch::unexpected(line).into());
        };
        conversions.push(Conversion {
            ts: String::new(),
            conversion_id: id.clone(),
            click_id: click_id.clone(),
            click_ts: String::new(),
            event: event.clone(),
            category: String::new(),
            time: t.clone(),
            value: value.clone(),
            currency: currency.clone(),
            txn_hash: String::new(),
            consent: consent.clone(),
            source: String::new(),
            edge: String::new(),
        });
        // An unmatched join leaves the click's columns empty: no click.
        let (Ok(verdict), Some(ms)) = (verdict.parse::<Verdict>(), time::rfc3339_ms(ts)) else {
            continue;
        };
        clicks.insert(
            click_id.clone(),
            ClickFacts {
                verdict,
                adjusted: !adj.is_empty(),
                ms,
                param: param.clone(),
                platform_click_id: pcid.clone(),
                data_use: data_use.clone(),
            },
        );
    }
    Ok((conversions, clicks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(consent: &str) -> Conversion {
        Conversion {
            ts: String::new(),
            conversion_id: "k".into(),
            click_id: "c".into(),
            click_ts: String::new(),
            event: "purchase".into(),
            category: "purchase".into(),
            time: "2026-11-02T10:30:00.000Z".into(),
            value: String::new(),
            currency: String::new(),
            txn_hash: String::new(),
            consent: consent.into(),
            source: String::new(),
            edge: String::new(),
        }
    }

    #[test]
    fn each_rule_withholds_by_its_own_reason_in_order() {
        let click = ClickFacts {
            verdict: Verdict::Valid,
            adjusted: false,
            ms: time::rfc3339_ms("2026-11-02T10:00:00.000Z").unwrap(),
            param: "gclid".into(),
            platform_click_id: "G1".into(),
            data_use: "standard".into(),
        };
        let g = Platform::Google;
        let ok = conversion("granted");
        assert_eq!(allowed(&ok, Some(&click), g, 30), Ok(()));
        assert_eq!(
            allowed(&conversion("unspecified"), Some(&click), g, 30),
            Ok(())
        );
        assert_eq!(allowed(&ok, None, g, 30), Err(Withheld::NotAttributed));
        let adjusted = ClickFacts {
            adjusted: true,
            ..click.clone()
        };
        assert_eq!(
            allowed(&ok, Some(&adjusted), g, 30),
            Err(Withheld::NotAttributed)
        );
        assert_eq!(
            allowed(&ok, Some(&click), Platform::Microsoft, 30),
            Err(Withheld::NoPlatformClickId)
        );
        let wbraid = ClickFacts {
            param: "wbraid".into(),
            ..click.clone()
        };
        assert_eq!(
            allowed(&ok, Some(&wbraid), g, 30),
            Err(Withheld::NoPlatformClickId)
        );
        for d in ["opted_out", "child_directed", ""] {
            let k = ClickFacts {
                data_use: d.into(),
                ..click.clone()
            };
            assert_eq!(
                allowed(&ok, Some(&k), g, 30),
                Err(Withheld::DataUse),
                "{d:?}"
            );
        }
        assert_eq!(
            allowed(&conversion("denied"), Some(&click), g, 30),
            Err(Withheld::Consent)
        );
    }

    #[test]
    fn an_existing_file_is_never_replaced_and_nothing_is_marked_exported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        let out = dir.path().join("google.csv");
        std::fs::write(&out, "an earlier export").unwrap();
        let actions = BTreeMap::new();
        let q = ExportQuery {
            platform: Platform::Google,
            from: None,
            to: None,
            window_days: 30,
            actions: &actions,
            out: &out,
        };
        let store = Store::Local(dir.path().to_path_buf());
        let e = export(&store, &q, SystemTime::now()).unwrap_err();
        assert!(matches!(e, ExportError::OutExists { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "an earlier export");
        assert!(!dir.path().join("exported-google.ndjson").exists());
        // Elsewhere, an empty store gives the header alone.
        let fresh = dir.path().join("google-2.csv");
        let q = ExportQuery { out: &fresh, ..q };
        assert_eq!(
            export(&store, &q, SystemTime::now()).unwrap(),
            Exported::default()
        );
        assert_eq!(std::fs::read_to_string(&fresh).unwrap().lines().count(), 2);
    }
}
