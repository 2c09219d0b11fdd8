//! What the after-the-fact work amends in a report ([`Amendments`]): clicks
//! that `rescore` found invalid after the fact, and months whose totals
//! `freeze` fixed. Both sources count a click through [`Amendments::count`]
//! locally, or the same rules in SQL (`sql.rs`).

use super::{FrozenMonth, GroupKey, Query, Rows};
use crate::ivt::{BackendReason, Reason, Verdict};
use std::collections::{BTreeMap, HashMap};

/// An adjustment in force on a click: the first back-end reason found for
/// it, and when (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Adjusted {
    pub reason: BackendReason,
    pub time: u64,
}

/// What the after-the-fact work amends in a report: the adjustments
/// `rescore` made, joined to the clicks by id, and the months `freeze`
/// froze, whose totals stand in for their clicks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Amendments {
    /// By click id.
    pub adjustments: HashMap<String, Adjusted>,
    /// By `YYYY-MM`.
    pub frozen: BTreeMap<String, FrozenMonth>,
    /// Only adjustments made before this time count (Unix seconds): what
    /// `freeze` uses to take its snapshot.
    pub adjusted_before: Option<u64>,
}

impl Amendments {
    pub(super) fn adjustment(&self, click_id: &str) -> Option<Adjusted> {
        self.adjustments
            .get(click_id)
            .copied()
            .filter(|a| self.adjusted_before.is_none_or(|t| a.time < t))
    }

    /// Counts one click into its group: once, with its adjustment; in a
    /// frozen month only as a credit, since the frozen totals stand.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn count(
        &self,
        rows: &mut Rows,
        key: Vec<String>,
        ts: &str,
        click_id: &str,
        verdict: Verdict,
        reason: Option<Reason>,
        undecided: bool,
    ) {
        let adjusted = self.adjustment(click_id);
        if let Some(frozen) = ts.get(..7).and_then(|m| self.frozen.get(m)) {
            if verdict == Verdict::Valid && adjusted.is_some_and(|a| a.time > frozen.frozen_at) {
                rows.entry(key).or_default().credits += 1;
            }
            return;
        }
        let c = rows.entry(key).or_default();
        match (verdict, adjusted) {
            (Verdict::Valid, Some(a)) => {
                c.invalid += 1;
                c.backend[a.reason.index()] += 1;
            }
            (Verdict::Valid, None) => {
                c.valid += 1;
                c.undecided += u64::from(undecided);
            }
            (Verdict::Invalid, _) => {
                c.invalid += 1;
                if let Some(r) = reason {
                    c.by_reason[r.index()] += 1;
                }
            }
            (Verdict::Test, _) => c.test += 1,
        }
    }

    /// Adds the frozen months' totals to `rows`, grouped as `q` asks. A
    /// frozen month is read in whole UTC days: a day counts when `from`
    /// falls on or before it and `to` after its start.
    pub(crate) fn add_frozen(&self, rows: &mut Rows, q: &Query) {
        let day_at = GroupKey::Day.index();
        let from = q.from.map(|t| crate::time::rfc3339(t).to_string());
        let to = q.to.map(|t| crate::time::rfc3339(t).to_string());
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
