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
//! - the range is half-open, `from <= ts < to`, in UTC; `day` is the UTC date;
//! - conversions ([`conversions`]) go with their click: attributed to a
//!   valid click within the window (`conversions`, `conversion_value`,
//!   summed exactly per currency), or counted on an invalid or a test
//!   click, or unattributed (no group: the totals row, or a last row of
//!   their own with `--by`); each `conversion_id` once.
//!
//! The local source reads the spool as a stream, a line at a time, and keeps
//! one row of counters per group: memory grows with the number of groups,
//! never with the number of events or the length of a line. Damaged
//! records are skipped and counted, lines longer than any record
//! ([`crate::spool::record::MAX_LINE`]) among them.
//!
//! One file a seam: [`counts`](Counts) and frozen months, the
//! [`amendments`](Amendments) the after-the-fact work makes to the clicks,
//! the [`local`] source, the [`clickhouse`] SQL, and the rendering
//! ([`write`]).

mod amendments;
pub(crate) mod conversions;
mod counts;
mod local;
mod render;
mod sql;

pub(crate) use amendments::{Adjusted, Amendments};
pub(crate) use counts::{Counts, FrozenError, FrozenMonth};
pub(crate) use local::{each_local_click, local};
pub(crate) use render::{csv_field, write, Format};
pub(crate) use sql::{clickhouse, conversions_once, ADJUSTMENTS_TABLE};

use crate::closed_set::closed_set;
use crate::event::Field;
use std::collections::BTreeMap;
use std::time::SystemTime;

closed_set! {
    /// What a report can group by (`--by`).
    #[derive(clap::ValueEnum)]
    pub enum GroupKey {
        Campaign,
        Publisher,
        Day,
        Device,
        Country,
        /// The ad platform of a template click (`google`, `microsoft`, the
        /// click-id parameter for another), empty for a classic click.
        Platform,
        /// Why the click was invalid: its inline reason, or the back-end
        /// reason of the adjustment that invalidated it; empty for a valid
        /// click. Beside `conversion_rate`, the rate at which each reason's
        /// clicks converted (docs/methodology.md).
        Reason,
    }
}

/// A `--by` or `--format` value that is none of the names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("--by {given:?}: group by {}", GroupKey::names())]
    GroupKey { given: String },
    #[error("--format {given:?}: use table, json or csv")]
    Format { given: String },
}

impl GroupKey {
    pub fn parse(s: &str) -> Result<GroupKey, ParseError> {
        s.trim().parse().map_err(|_| ParseError::GroupKey {
            given: s.trim().to_string(),
        })
    }

    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// Every name, comma-separated.
    fn names() -> String {
        let all: Vec<&str> = GroupKey::ALL.iter().map(|k| k.as_str()).collect();
        all.join(", ")
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
            GroupKey::Reason => Field::Reason,
        }
    }
}

/// What to report.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    pub by: Vec<GroupKey>,
    /// `conversions.window_days`: a conversion is attributed to a valid
    /// click only this many days after it, at most.
    pub window_days: u32,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            from: None,
            to: None,
            by: Vec::new(),
            window_days: crate::config::ConversionsConfig::default().window_days,
        }
    }
}

/// Group values (in `by` order) to counts, sorted by group.
pub(crate) type Rows = BTreeMap<Vec<String>, Counts>;

/// A report: its rows, and the conversions no stored click in range can
/// take (no such click, or a valid click more than the window before the
/// conversion), which belong to no group.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Report {
    pub rows: Rows,
    pub unattributed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_are_read_by_name_and_others_refused_with_the_list() {
        assert_eq!(GroupKey::parse("day"), Ok(GroupKey::Day));
        assert_eq!(GroupKey::parse(" day "), Ok(GroupKey::Day));
        let e = GroupKey::parse("ip").unwrap_err();
        assert_eq!(e, ParseError::GroupKey { given: "ip".into() });
        assert_eq!(
            e.to_string(),
            "--by \"ip\": group by campaign, publisher, day, device, country, platform, reason"
        );
    }

    #[test]
    fn group_keys_take_the_same_names_on_the_command_line() {
        use clap::ValueEnum;
        for k in GroupKey::ALL {
            let v = k.to_possible_value().unwrap();
            assert_eq!(v.get_name(), k.as_str());
        }
    }
}
