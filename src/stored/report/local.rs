//! The report from the local spool: every click record under
//! `<data_dir>/clicks/` streamed once, a line at a time.

use super::{conversions, Amendments, GroupKey, Query, Report};
use crate::event::{Field, Record};
use crate::ivt::{Reason, Verdict};
use crate::spool::reader;
use std::path::Path;
use std::time::SystemTime;

/// A template click's platform, from its click-id parameter.
fn platform_of(param: &str) -> String {
    crate::click::Platform::of_param(param)
        .map_or_else(|| param.to_string(), |p| p.as_str().to_string())
}

/// Result of reading the local spool.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub report: Report,
    pub events: u64,
    /// Damaged click and conversion records, skipped.
    pub damaged: u64,
}

/// Streams every well-formed click record under `<data_dir>/clicks/` whose
/// `ts` is in `[from, to)` to `each`; returns (records passed, damaged
/// records skipped). What `report`, `rescore` and `freeze` read locally.
pub(crate) fn each_local_click(
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
    let from = from.map(|t| crate::time::rfc3339_millis(t).to_string());
    let to = to.map(|t| crate::time::rfc3339_millis(t).to_string());
    damaged += reader::each_record(&dir, |json| {
        let Ok(f) = Record::parse(json) else {
            return false;
        };
        // A record whose checksum holds but whose time or verdict is
        // not one the edge writes is counted damaged, never guessed at.
        let (Some(ts), Some(verdict)) = (f.get(Field::Ts), f.get(Field::Verdict)) else {
            return false;
        };
        if crate::time::parse_rfc3339(ts).is_none() || verdict.parse::<Verdict>().is_err() {
            return false;
        }
        // RFC 3339 UTC with milliseconds sorts as text.
        if from.as_deref().is_some_and(|from| ts < from) || to.as_deref().is_some_and(|to| ts >= to)
        {
            return true;
        }
        each(&f);
        events += 1;
        true
    })?;
    Ok((events, damaged))
}

/// The report from the local spool, with the back end's adjustments and
/// frozen months applied, and the conversions under `conversions/`.
pub(crate) fn local(data_dir: &Path, q: &Query, amendments: &Amendments) -> std::io::Result<Local> {
    let mut out = Local::default();
    let mut convs = conversions::read_local(data_dir)?;
    let rows = &mut out.report.rows;
    let mut unattributed = 0;
    let (events, damaged) = each_local_click(data_dir, q.from, q.to, |f| {
        // `each_local_click` passes only records with a verdict the edge writes.
        let Ok(verdict) = f.text(Field::Verdict).parse::<Verdict>() else {
            return;
        };
        let ts = f.text(Field::Ts);
        let click_id = f.text(Field::ClickId);
        let adjusted = amendments.adjustment(click_id);
        let key: Vec<String> = q
            .by
            .iter()
            .map(|k| match (k, k.field()) {
                (_, Field::Ts) => ts.get(..10).unwrap_or("").to_string(),
                (_, Field::PlatformClickParam) => platform_of(f.text(Field::PlatformClickParam)),
                (GroupKey::Reason, _) => match adjusted {
                    Some(a) if verdict == Verdict::Valid => a.reason.as_str().to_string(),
                    _ => f.text(Field::Reason).to_string(),
                },
                (_, other) => f.text(other).to_string(),
            })
            .collect();
        // Stored without an address or a user agent: retention never
        // empties either (an address becomes `[scrubbed]`), so this stays
        // what it was when the click was stored. The SQL (`sql.rs`) reads the same.
        let undecided = f.text(Field::Ip).is_empty() || f.text(Field::UserAgent).is_empty();
        // A conversion is keyed by the click's id, or by the platform's
        // click id it carried (parallel tracking: the landing page never
        // saw the edge's).
        let mut mine = convs.by_click.remove(click_id).unwrap_or_default();
        let platform_id = f.text(Field::PlatformClickId);
        if !platform_id.is_empty() {
            mine.extend(convs.by_click.remove(platform_id).unwrap_or_default());
        }
        if !mine.is_empty() {
            let click_ms = crate::time::rfc3339_ms(ts).unwrap_or(0);
            let row = rows.entry(key.clone()).or_default();
            for c in &mine {
                let conv_ms = conversions::time_ms(&c.time).unwrap_or(0);
                let class = conversions::classify(
                    verdict,
                    adjusted.is_some(),
                    click_ms,
                    conv_ms,
                    q.window_days,
                );
                unattributed += u64::from(class == conversions::Class::Unattributed);
                row.count_conversion(class, conversions::value_of(c));
            }
        }
        amendments.count(
            rows,
            key,
            ts,
            click_id,
            verdict,
            f.text(Field::Reason).parse::<Reason>().ok(),
            undecided,
        );
    })?;
    // The rest: conversions of clicks in range that are not stored.
    let from = q.from.map(|t| crate::time::rfc3339_millis(t).to_string());
    let to = q.to.map(|t| crate::time::rfc3339_millis(t).to_string());
    unattributed += convs
        .all()
        .filter(|c| {
            let t = c.click_ts.as_str();
            from.as_deref().is_none_or(|f| t >= f) && to.as_deref().is_none_or(|to| t < to)
        })
        .count() as u64;
    out.report.unattributed = unattributed;
    out.events = events;
    out.damaged = damaged + convs.damaged;
    amendments.add_frozen(&mut out.report.rows, q);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: &str, campaign: &str, verdict: &str, reason: &str) -> Vec<u8> {
        let mut r = format!(
            "{{\"ts\":\"{ts}\",\"click_id\":\"x\",\"campaign\":\"{campaign}\",\"publisher\":\"p\",\"verdict\":\"{verdict}\",\"reason\":\"{reason}\",\"device\":\"mobile\",\"country\":\"\"}}"
        )
        .into_bytes();
        crate::spool::record::seal(&mut r);
        r
    }

    #[test]
    fn clicks_are_counted_once_by_group_and_range() {
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
        let all = local(dir.path(), &Query::default(), &Amendments::default()).unwrap();
        let all_rows = &all.report.rows;
        assert_eq!(all.damaged, 2, "the nonsense time and the unknown verdict");
        let t = &all_rows[&Vec::<String>::new()];
        assert_eq!((t.gross(), t.valid, t.invalid, t.test), (4, 2, 2, 1));
        assert_eq!(t.by_reason[Reason::KnownBot as usize], 1);
        assert_eq!(t.by_reason[Reason::Duplicate as usize], 1);

        let q = Query {
            from: Some(crate::time::parse_time("2026-11-01").unwrap()),
            to: Some(crate::time::parse_time("2026-11-03").unwrap()),
            by: vec![GroupKey::Campaign, GroupKey::Day],
            ..Query::default()
        };
        let r = local(dir.path(), &q, &Amendments::default())
            .unwrap()
            .report
            .rows;
        assert_eq!(r.len(), 2);
        let a = &r[&vec!["a".to_string(), "2026-11-01".to_string()]];
        assert_eq!((a.gross(), a.valid, a.invalid), (2, 1, 1));
        let b = &r[&vec!["b".to_string(), "2026-11-02".to_string()]];
        assert_eq!((b.gross(), b.test), (1, 1));
    }
}
