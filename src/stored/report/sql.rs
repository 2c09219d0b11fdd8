//! The report from ClickHouse: one query that counts in the server, the
//! click table read `FINAL` and joined to the adjustments by click id, the
//! same rules as [`super::Amendments::count`] written in SQL; only the
//! rows come back.

use super::{Amendments, Counts, GroupKey, Query, Rows};
use crate::ivt::{BackendReason, Reason};
use crate::ship::sinks::ClickHouse;
use crate::stored::clickhouse::{self as ch, ClickHouseError};
use crate::time;
use strum::EnumCount;

/// The ClickHouse table of adjustments, beside the click table.
pub(crate) const ADJUSTMENTS_TABLE: &str = "clickedge_adjustments";

/// The columns of an answer's row after its group keys: valid, invalid,
/// test, undecided, credits, then each reason.
const COUNT_COLUMNS: usize = 5 + Reason::COUNT + BackendReason::COUNT;

impl GroupKey {
    fn sql(self) -> std::borrow::Cow<'static, str> {
        match self {
            // The UTC date as `ts` spells it. (ClickHouse 18.16 fails on
            // toDate(time) here together with FINAL: the sorting key has it.)
            GroupKey::Day => "substring(ts, 1, 10)".into(),
            // From the platforms' table, as `platform_of` reads it.
            GroupKey::Platform => crate::click::platform_sql("platform_click_param").into(),
            other => other.name().into(),
        }
    }
}

/// The same report from ClickHouse: the click table read `FINAL`, joined
/// with the adjustments table, frozen months from `amendments.frozen`.
pub(crate) fn clickhouse(
    sink: &ClickHouse,
    q: &Query,
    amendments: &Amendments,
) -> Result<Rows, ClickHouseError> {
    let text = ch::query(sink, &select(sink, q, amendments))?;
    let mut rows = read_rows(&text, q.by.len())?;
    amendments.add_frozen(&mut rows, q);
    Ok(rows)
}

/// `fz` (the click is in a frozen month) and `frozen_at` (that month's
/// freeze, Unix seconds), as SQL expressions over `ts`.
fn frozen_columns(amendments: &Amendments) -> (String, String) {
    if amendments.frozen.is_empty() {
        return ("0".to_string(), "toUInt32(0)".to_string());
    }
    let months: Vec<String> = amendments.frozen.keys().map(|m| format!("'{m}'")).collect();
    let frozen = format!("substring(ts, 1, 7) IN ({})", months.join(", "));
    let mut arms: Vec<String> = amendments
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
    (frozen, format!("multiIf({})", arms.join(", ")))
}

/// The counting columns, in [`COUNT_COLUMNS`] order.
fn count_columns() -> Vec<String> {
    let live = |cond: &str| format!("countIf(NOT fz AND {cond})");
    let mut cols = vec![
        live("verdict = 'valid' AND adj = ''"),
        live("(verdict = 'invalid' OR (verdict = 'valid' AND adj != ''))"),
        live("verdict = 'test'"),
        live("verdict = 'valid' AND adj = '' AND (ip = '' OR user_agent = '')"),
        "countIf(fz AND verdict = 'valid' AND adj != '' AND adj_time > frozen_at)".into(),
    ];
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
    cols
}

/// The report's query.
fn select(sink: &ClickHouse, q: &Query, amendments: &Amendments) -> String {
    let keys: Vec<String> = q.by.iter().map(|k| k.sql().into_owned()).collect();
    let (frozen, frozen_at) = frozen_columns(amendments);
    let mut cols: Vec<String> = keys.clone();
    cols.extend(count_columns());
    let mut wher = Vec::new();
    // `time` has whole seconds; `ts` keeps the milliseconds for exact bounds.
    if let Some(f) = q.from {
        wher.push(format!(
            "time >= toDateTime({}) AND ts >= '{}'",
            time::unix_secs(f),
            time::rfc3339_millis(f)
        ));
    }
    if let Some(t) = q.to {
        wher.push(format!(
            "time <= toDateTime({}) AND ts < '{}'",
            time::unix_secs(t),
            time::rfc3339_millis(t)
        ));
    }
    let adjusted_before = amendments
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
    sql
}

/// The answer's rows: `n` group keys, then the counts.
fn read_rows(text: &str, n: usize) -> Result<Rows, ClickHouseError> {
    let mut rows = Rows::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != n + COUNT_COLUMNS {
            return Err(ch::unexpected(line));
        }
        let num = |i: usize| ch::number(f[n + i]);
        let mut c = Counts {
            valid: num(0)?,
            invalid: num(1)?,
            test: num(2)?,
            undecided: num(3)?,
            credits: num(4)?,
            ..Counts::default()
        };
        for (i, count) in c.by_reason.iter_mut().enumerate() {
            *count = num(5 + i)?;
        }
        for (i, count) in c.backend.iter_mut().enumerate() {
            *count = num(5 + Reason::COUNT + i)?;
        }
        if c.valid + c.invalid + c.test + c.credits == 0 {
            continue; // an empty table still answers one row without GROUP BY
        }
        let key = f[..n].iter().map(|s| ch::unescape_tsv(s)).collect();
        rows.insert(key, c);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_row_is_keys_then_counts() {
        let mut line = vec!["camp\\tx", "3", "2", "1", "0", "0"];
        line.extend(std::iter::repeat_n(
            "0",
            Reason::COUNT + BackendReason::COUNT,
        ));
        let rows = read_rows(&line.join("\t"), 1).unwrap();
        let c = &rows[&vec!["camp\tx".to_string()]];
        assert_eq!((c.valid, c.invalid, c.test), (3, 2, 1));
        assert!(matches!(
            read_rows("a\t1", 1),
            Err(ClickHouseError::UnexpectedAnswer { .. })
        ));
        let empty = vec!["0"; COUNT_COLUMNS].join("\t");
        assert!(
            read_rows(&empty, 0).unwrap().is_empty(),
            "a row of zeros is no row"
        );
    }
}
