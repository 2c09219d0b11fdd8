//! The numbers of a report's row ([`Counts`]), and a month's report as
//! `clickedge freeze` keeps it ([`FrozenMonth`]), with their stored form.

use super::{GroupKey, Rows};
use crate::conversion::record::Amount;
use crate::ivt::{BackendReason, Reason};
use std::collections::BTreeMap;
use strum::EnumCount;

/// A frozen month's document that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrozenError {
    #[error("frozen month: {0}")]
    NotJson(serde_json::Error),
    #[error("frozen month without {field}")]
    MonthWithout { field: &'static str },
    #[error("frozen row without {field}")]
    RowWithout { field: &'static str },
    #[error("frozen row with an unknown reason {name:?}")]
    UnknownReason { name: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
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
    /// Conversions attributed to the group's valid clicks (within the
    /// window after the click), each conversion once.
    pub conversions: u64,
    /// Their values, per currency, exactly.
    pub conversion_value: BTreeMap<String, Amount>,
    /// Conversions whose click was invalid, inline or by an adjustment.
    pub conversions_on_invalid: u64,
    /// Conversions whose click was a test click: in no other column.
    pub conversions_on_test: u64,
}

impl Counts {
    pub(crate) fn gross(&self) -> u64 {
        self.valid + self.invalid
    }

    pub(crate) fn backend_invalid(&self) -> u64 {
        self.backend.iter().sum()
    }

    /// The share of gross clicks decided valid or invalid (MRC 2020
    /// addendum); `None` without clicks.
    pub(crate) fn decision_rate(&self) -> Option<f64> {
        let gross = self.gross();
        (gross > 0).then(|| (gross - self.undecided) as f64 / gross as f64)
    }

    /// Attributed conversions per valid click; `None` without valid clicks.
    pub(crate) fn conversion_rate(&self) -> Option<f64> {
        (self.valid > 0).then(|| self.conversions as f64 / self.valid as f64)
    }

    /// Conversions per invalid click (what the flagged clicks converted
    /// at, to set beside [`Counts::conversion_rate`]); `None` without
    /// invalid clicks.
    pub(crate) fn invalid_conversion_rate(&self) -> Option<f64> {
        (self.invalid > 0).then(|| self.conversions_on_invalid as f64 / self.invalid as f64)
    }

    /// Whether the row counts anything at all.
    pub(super) fn is_empty(&self) -> bool {
        self.valid + self.invalid + self.test + self.credits == 0
            && self.conversions + self.conversions_on_invalid + self.conversions_on_test == 0
    }

    pub(super) fn add(&mut self, o: &Counts) {
        self.conversions += o.conversions;
        self.conversions_on_invalid += o.conversions_on_invalid;
        self.conversions_on_test += o.conversions_on_test;
        for (cur, v) in &o.conversion_value {
            let sum = self.conversion_value.entry(cur.clone()).or_default();
            *sum = sum.add(*v);
        }
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

    fn from_json(v: &serde_json::Value) -> Result<Counts, FrozenError> {
        let n = |field: &'static str| v[field].as_u64().ok_or(FrozenError::RowWithout { field });
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
                    return Err(FrozenError::UnknownReason { name: name.clone() });
                }
            }
        }
        Ok(c)
    }
}

/// A month's report as `clickedge freeze` took it: every group key, so any
/// later `--by` sums it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrozenMonth {
    /// `YYYY-MM`
    pub month: String,
    /// Unix seconds. Adjustments made after it are credits; those of its
    /// own second are in the frozen numbers.
    pub frozen_at: u64,
    /// Keys in [`GroupKey::ALL`] order.
    pub rows: Rows,
}

impl FrozenMonth {
    pub(crate) fn to_json(&self) -> String {
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

    pub(crate) fn from_json(text: &str) -> Result<FrozenMonth, FrozenError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(FrozenError::NotJson)?;
        let without = |field| FrozenError::MonthWithout { field };
        let month = v["month"].as_str().ok_or(without("month"))?;
        let frozen_at = v["frozen_at"].as_u64().ok_or(without("frozen_at"))?;
        let mut rows = Rows::new();
        for r in v["rows"].as_array().ok_or(without("rows"))? {
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
