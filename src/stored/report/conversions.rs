//! Conversions beside the clicks (docs/contract.md §9): each stored
//! conversion once, and what it is to the report of its click.
//!
//! The same rules from both sources:
//! - repeats (the same `conversion_id`, from two edges or a restart) count
//!   once: the record received first is kept (the least `ts` then `edge`,
//!   compared as the text `ts || edge`, which ClickHouse compares alike);
//! - a record whose `time` is not the edge's RFC 3339 with milliseconds
//!   is damaged and skipped before repeats are removed, locally and in SQL;
//! - a conversion is [`Class::Attributed`] when its click is stored with
//!   verdict `valid`, no adjustment invalidated it, and the conversion is
//!   at most `window_days` after the click's `ts` (and not before it); on
//!   an invalid click (inline or by an adjustment) it is
//!   [`Class::OnInvalid`], on a test click [`Class::OnTest`], and a valid
//!   click's conversion outside the window is [`Class::Unattributed`],
//!   like one whose click is not stored;
//! - conversions go with their click: a report's range and groups are the
//!   click's, and the unattributed ones are those whose `click_ts` is in
//!   the range and whose click is not among the range's clicks;
//! - a value counts only with a currency and when it is a decimal with at
//!   most 18 digits before the point and 6 after (what the edge accepts);
//!   otherwise the conversion counts without a value;
//! - frozen months do not hold conversions: they are counted as they are
//!   now, with the adjustments in force.

use super::Counts;
use crate::conversion::record::{Amount, Conversion};
use crate::ivt::Verdict;
use crate::spool::reader;
use std::collections::HashMap;
use std::path::Path;

/// The directory of the conversion records under a data dir.
pub(crate) const DIR: &str = "conversions";

const DAY_MS: i64 = 86_400_000;

/// What a stored conversion is to the report of its click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Attributed,
    OnInvalid,
    OnTest,
    Unattributed,
}

impl Class {
    /// Its letter in the SQL's answer.
    pub(super) fn from_sql(s: &str) -> Option<Class> {
        match s {
            "a" => Some(Class::Attributed),
            "i" => Some(Class::OnInvalid),
            "t" => Some(Class::OnTest),
            "u" => Some(Class::Unattributed),
            _ => None,
        }
    }
}

/// The class of a conversion at `conv_ms` on a click stored at `click_ms`
/// with `verdict`, `adjusted` when an adjustment invalidated it.
pub(crate) fn classify(
    verdict: Verdict,
    adjusted: bool,
    click_ms: i64,
    conv_ms: i64,
    window_days: u32,
) -> Class {
    match verdict {
        Verdict::Test => Class::OnTest,
        Verdict::Invalid => Class::OnInvalid,
        Verdict::Valid if adjusted => Class::OnInvalid,
        Verdict::Valid
            if conv_ms >= click_ms && conv_ms <= click_ms + i64::from(window_days) * DAY_MS =>
        {
            Class::Attributed
        }
        Verdict::Valid => Class::Unattributed,
    }
}

/// The milliseconds of a `time` as the edge writes it
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`); `None` for any other shape.
pub(crate) fn time_ms(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 24 || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    crate::time::rfc3339_ms(t)
}

/// The SQL of [`time_ms`]'s shape: what ClickHouse keeps.
pub(super) const TIME_SHAPE_SQL: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$";

/// The SQL of a value that counts (see [`value_of`]).
pub(super) const VALUE_SHAPE_SQL: &str = r"^[0-9]{1,18}(\\.[0-9]{1,6})?$";

/// A conversion's currency and value, when it has both and the value is
/// one the edge accepts.
pub(crate) fn value_of(c: &Conversion) -> Option<(&str, Amount)> {
    if c.currency.is_empty() || c.value.is_empty() {
        return None;
    }
    let int = c.value.split('.').next().unwrap_or("");
    if int.len() > 18 {
        return None;
    }
    Amount::parse(&c.value)
        .ok()
        .map(|a| (c.currency.as_str(), a))
}

impl Counts {
    /// Counts one conversion of the row's clicks; an unattributed one
    /// belongs to no row.
    pub(crate) fn count_conversion(&mut self, class: Class, value: Option<(&str, Amount)>) {
        match class {
            Class::Attributed => {
                self.conversions += 1;
                if let Some((cur, v)) = value {
                    let sum = self.conversion_value.entry(cur.to_string()).or_default();
                    *sum = sum.add(v);
                }
            }
            Class::OnInvalid => self.conversions_on_invalid += 1,
            Class::OnTest => self.conversions_on_test += 1,
            Class::Unattributed => {}
        }
    }
}

/// The conversions of a data dir, each once, by click id.
#[derive(Debug, Default)]
pub(crate) struct LocalConversions {
    pub by_click: HashMap<String, Vec<Conversion>>,
    /// Records skipped: a failed checksum, a line longer than any record,
    /// not a conversion, or a `time` not as the edge writes it.
    pub damaged: u64,
}

impl LocalConversions {
    /// Every conversion kept, in no order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Conversion> {
        self.by_click.values().flatten()
    }
}

/// Reads every record under `<data_dir>/conversions/`, a line at a time,
/// and keeps one of each `conversion_id`. Memory grows with the number of
/// conversions (a few hundred bytes each), never with a line's length.
pub(crate) fn read_local(data_dir: &Path) -> std::io::Result<LocalConversions> {
    let dir = data_dir.join(DIR);
    let mut out = LocalConversions::default();
    if !dir.exists() {
        return Ok(out);
    }
    let mut kept: HashMap<String, Conversion> = HashMap::new();
    out.damaged += reader::each_record(&dir, |json| {
        let c = match Conversion::parse(json) {
            Ok(c) if time_ms(&c.time).is_some() => c,
            _ => return false,
        };
        match kept.get(&c.conversion_id) {
            Some(k) if format!("{}{}", k.ts, k.edge) <= format!("{}{}", c.ts, c.edge) => {}
            _ => {
                kept.insert(c.conversion_id.clone(), c);
            }
        }
        true
    })?;
    for (_, c) in kept {
        out.by_click.entry(c.click_id.clone()).or_default().push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversion_is_attributed_only_to_a_valid_click_within_the_window() {
        let day = DAY_MS;
        let c = |v, adj, conv| classify(v, adj, 10 * day, conv, 30);
        assert_eq!(c(Verdict::Valid, false, 10 * day), Class::Attributed);
        assert_eq!(c(Verdict::Valid, false, 40 * day), Class::Attributed);
        assert_eq!(c(Verdict::Valid, false, 40 * day + 1), Class::Unattributed);
        assert_eq!(c(Verdict::Valid, false, 10 * day - 1), Class::Unattributed);
        assert_eq!(c(Verdict::Valid, true, 11 * day), Class::OnInvalid);
        assert_eq!(c(Verdict::Invalid, false, 11 * day), Class::OnInvalid);
        assert_eq!(c(Verdict::Test, false, 11 * day), Class::OnTest);
    }

    #[test]
    fn only_the_edges_time_shape_and_accepted_values_count() {
        assert!(time_ms("2026-12-07T10:00:00.000Z").is_some());
        assert!(time_ms("2026-12-07T10:00:00Z").is_none());
        assert!(time_ms("2026-12-07T10:00:00.000+00:00").is_none());
        let mut conv = Conversion {
            ts: String::new(),
            conversion_id: String::new(),
            click_id: String::new(),
            click_ts: String::new(),
            event: String::new(),
            category: String::new(),
            time: String::new(),
            value: "0.1".into(),
            currency: "EUR".into(),
            txn_hash: String::new(),
            consent: String::new(),
            source: String::new(),
            edge: String::new(),
        };
        assert_eq!(value_of(&conv), Some(("EUR", Amount(100_000))));
        conv.currency.clear();
        assert_eq!(value_of(&conv), None);
        conv.currency = "EUR".into();
        conv.value = format!("0{}", "9".repeat(18));
        assert_eq!(value_of(&conv), None, "what the SQL would not count either");
    }
}
