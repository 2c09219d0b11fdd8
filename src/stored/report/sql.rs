//! The report from ClickHouse: one query that counts in the server, the
//! click table read `FINAL` and joined to the adjustments by click id, the
//! same rules as [`super::Amendments::count`] written in SQL; only the
//! rows come back.

use super::conversions::{Class, TIME_SHAPE_SQL, VALUE_SHAPE_SQL};
use super::{Amendments, Counts, GroupKey, Query, Report, Rows};
use crate::conversion::record::Amount;
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
            // The adjustment's reason on a click it invalidated, as
            // `local` reads it.
            GroupKey::Reason => "if(verdict = 'valid' AND adj != '', adj, reason)".into(),
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
) -> Result<Report, ClickHouseError> {
    let text = ch::query(sink, &select(sink, q, amendments))?;
    let mut rows = read_rows(&text, q.by.len())?;
    let text = ch::query(sink, &select_conversions(sink, q, amendments))?;
    let mut unattributed = read_conversions(&text, q.by.len(), &mut rows)?;
    let text = ch::query(sink, &select_unattributed(sink, q))?;
    unattributed += ch::number(text.trim())?;
    amendments.add_frozen(&mut rows, q);
    Ok(Report { rows, unattributed })
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

/// The range's condition on the click table (`WHERE ...`, or nothing).
fn click_range(q: &Query) -> String {
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
    if wher.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wher.join(" AND "))
    }
}

/// The clicks in range, read `FINAL`, each with its adjustment's reason
/// (`adj`, empty without one) and time (`adj_time`).
fn clicks_with_adjustments(sink: &ClickHouse, q: &Query, amendments: &Amendments) -> String {
    let adjusted_before = amendments
        .adjusted_before
        .map(|t| format!(" WHERE time < {t}"))
        .unwrap_or_default();
    format!(
        "(SELECT click_id, ts, campaign, publisher, device, country, platform_click_param, \
         verdict, reason, ip, user_agent FROM {table} FINAL{wher}) \
         ANY LEFT JOIN (SELECT click_id, argMin(reason, time) AS adj, min(time) AS adj_time \
         FROM {adjustments}{adjusted_before} GROUP BY click_id) USING click_id",
        table = sink.table_name(),
        wher = click_range(q),
        adjustments = sink.sibling(ADJUSTMENTS_TABLE),
    )
}

/// The report's query.
fn select(sink: &ClickHouse, q: &Query, amendments: &Amendments) -> String {
    let keys: Vec<String> = q.by.iter().map(|k| k.sql().into_owned()).collect();
    let (frozen, frozen_at) = frozen_columns(amendments);
    let mut cols: Vec<String> = keys.clone();
    cols.extend(count_columns());
    let mut sql = format!(
        "SELECT {cols} FROM (SELECT *, {frozen} AS fz, {frozen_at} AS frozen_at FROM {clicks})",
        cols = cols.join(", "),
        clicks = clicks_with_adjustments(sink, q, amendments),
    );
    if !keys.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
    }
    sql.push_str(" FORMAT TSV");
    sql
}

/// Milliseconds since the epoch of a column holding RFC 3339 UTC with
/// milliseconds (the edge's `ts` and `time`), as
/// [`super::conversions::time_ms`] reads it.
fn millis_sql(col: &str) -> String {
    format!(
        "(toInt64(toDateTime(replaceOne(substring({col}, 1, 19), 'T', ' '), 'UTC')) * 1000 \
         + toInt64(substring({col}, 21, 3)))"
    )
}

/// The conversions table with each `conversion_id` once: the record
/// received first (least `ts || edge`), records with a `time` not as the
/// edge writes it left out first. Columns: `click_id` and `c_*`.
pub(crate) fn conversions_once(sink: &ClickHouse) -> String {
    let first = |col: &str| format!("argMin({col}, concat(ts, edge)) AS c_{col}");
    // A conversion keyed by a platform's click id (parallel tracking) is
    // the conversion of the first click that carried it (a repeat of the
    // same id is a later, duplicate click), as the data dir reads it.
    format!(
        "(SELECT c_conversion_id, if(real_id != '', real_id, sent_id) AS click_id, \
         c_time, c_value, c_currency, c_click_ts, c_event, c_consent FROM \
         (SELECT conversion_id AS c_conversion_id, any(click_id) AS sent_id, {}, {}, {}, {}, {}, {} \
         FROM {} WHERE match(time, '{TIME_SHAPE_SQL}') GROUP BY conversion_id) \
         ANY LEFT JOIN (SELECT platform_click_id AS sent_id, argMin(click_id, ts) AS real_id FROM {} \
         WHERE platform_click_id != '' GROUP BY platform_click_id) USING sent_id)",
        first("time"),
        first("value"),
        first("currency"),
        first("click_ts"),
        first("event"),
        first("consent"),
        sink.sibling(crate::stored::CONVERSIONS_TABLE),
        sink.table_name(),
    )
}

/// The conversions of the range's clicks, per group, class and currency:
/// the group keys, the class letter, the currency (empty: no value that
/// counts), how many and their values' sum (Decimal, exact).
fn select_conversions(sink: &ClickHouse, q: &Query, amendments: &Amendments) -> String {
    let keys: Vec<String> = q.by.iter().map(|k| k.sql().into_owned()).collect();
    let window_ms = i64::from(q.window_days) * 86_400_000;
    let mut group = keys.clone();
    group.extend(["cls".to_string(), "cur".to_string()]);
    let mut cols = group.clone();
    cols.extend(["count()".to_string(), "sum(toDecimal128(v, 6))".to_string()]);
    format!(
        "SELECT {cols} FROM (SELECT *, \
         multiIf(verdict = 'test', 't', verdict = 'invalid' OR adj != '', 'i', \
         c_ms >= click_ms AND c_ms <= click_ms + {window_ms}, 'a', 'u') AS cls, \
         if(c_value != '' AND c_currency != '' AND match(c_value, '{VALUE_SHAPE_SQL}'), \
         c_currency, '') AS cur, if(cur = '', '0', c_value) AS v \
         FROM (SELECT *, {click_ms} AS click_ms FROM {clicks}) \
         ALL INNER JOIN (SELECT *, {c_ms} AS c_ms FROM {convs}) USING click_id) \
         GROUP BY {group} FORMAT TSV",
        cols = cols.join(", "),
        click_ms = millis_sql("ts"),
        clicks = clicks_with_adjustments(sink, q, amendments),
        c_ms = millis_sql("c_time"),
        convs = conversions_once(sink),
        group = group.join(", "),
    )
}

/// How many conversions of clicks in range (by `click_ts`) have no click
/// among the range's clicks.
fn select_unattributed(sink: &ClickHouse, q: &Query) -> String {
    let mut wher = vec![format!(
        "click_id NOT IN (SELECT click_id FROM {} FINAL{})",
        sink.table_name(),
        click_range(q)
    )];
    if let Some(f) = q.from {
        wher.push(format!("c_click_ts >= '{}'", time::rfc3339_millis(f)));
    }
    if let Some(t) = q.to {
        wher.push(format!("c_click_ts < '{}'", time::rfc3339_millis(t)));
    }
    format!(
        "SELECT count() FROM {} WHERE {} FORMAT TSV",
        conversions_once(sink),
        wher.join(" AND ")
    )
}

/// Adds the conversions' answer to `rows`; the unattributed count.
fn read_conversions(text: &str, n: usize, rows: &mut Rows) -> Result<u64, ClickHouseError> {
    let mut unattributed = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != n + 4 {
            return Err(ch::unexpected(line));
        }
        let class = Class::from_sql(f[n]).ok_or_else(|| ch::unexpected(line))?;
        let count = ch::number(f[n + 2])?;
        if class == Class::Unattributed {
            unattributed += count;
            continue;
        }
        let key: Vec<String> = f[..n].iter().map(|s| ch::unescape_tsv(s)).collect();
        let row = rows.entry(key).or_default();
        let currency = ch::unescape_tsv(f[n + 1]);
        match class {
            Class::Attributed => {
                row.conversions += count;
                if !currency.is_empty() {
                    let sum = Amount::parse(f[n + 3]).map_err(|_| ch::unexpected(line))?;
                    let total = row.conversion_value.entry(currency).or_default();
                    *total = total.add(sum);
                }
            }
            Class::OnInvalid => row.conversions_on_invalid += count,
            Class::OnTest => row.conversions_on_test += count,
            Class::Unattributed => {}
        }
    }
    Ok(unattributed)
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
        if c.is_empty() {
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
