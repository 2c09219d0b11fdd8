//! The after-the-fact work (docs/contract.md §7, docs/methodology.md):
//! what runs over stored clicks after the fact rather than on a request.
//!
//! - `rescore`: the activity rules ([`activity`]) over a window of stored
//!   clicks. What they find becomes *adjustments* (click id, reason, rule,
//!   run, time) in an append-only store beside the click log, which is
//!   never rewritten. A click already adjusted is never adjusted again, so
//!   re-running a window adds nothing.
//! - `freeze`: a month's report, taken at every group key and kept; a
//!   report of that month reads it, and later adjustments are credits.
//! - [`strikes`]: the publisher ladder.
//! - [`report`]: the numbers, with the adjustments and frozen months
//!   applied, and the conversions beside them; [`export`]: conversions to
//!   the ad platforms' import files, each once; [`retention`]: personal
//!   detail removed once old enough.
//!
//! Both stores ([`Store`]) hold the same things: the local data dir (files
//! under `adjustments/` and `state/`) and ClickHouse (the tables of
//! `conf/clickhouse/backend.sql`, beside the click table).

pub(crate) mod activity;
mod clickhouse;
pub(crate) mod export;
pub(crate) mod report;
pub(crate) mod retention;
mod store;
pub(crate) mod strikes;

pub(crate) use store::{Adjustment, StateKind, Store, StoreError};

/// The ClickHouse table of conversions, beside the click table
/// (`conf/clickhouse/conversions.sql`).
pub(crate) const CONVERSIONS_TABLE: &str = "clickedge_conversions";

use crate::ivt::BackendReason;
use crate::time::{self, TimeError};
use activity::Rules;
use report::{FrozenMonth, GroupKey, Query};
use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strum::EnumCount;

/// Why `rescore` did not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RescoreError {
    #[error("--from must be before --to")]
    EmptyWindow,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why `freeze` did not freeze.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FreezeError {
    #[error(transparent)]
    Month(#[from] TimeError),
    #[error(
        "{month} is not over yet: a month is frozen once it has ended (at {})",
        time::rfc3339(*ends)
    )]
    NotOver { month: String, ends: SystemTime },
    #[error(
        "{month} is frozen already; its numbers stay as they are, and later \
         adjustments show as credits"
    )]
    AlreadyFrozen { month: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a rescore run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rescored {
    pub run: String,
    /// Counted clicks read, the context before the window included.
    pub clicks_read: usize,
    /// New adjustments per reason, indexed like [`BackendReason::ALL`].
    pub new: [u64; BackendReason::COUNT],
    /// Clicks found again that an earlier run had already adjusted.
    pub already: u64,
}

impl Rescored {
    pub(crate) fn total_new(&self) -> u64 {
        self.new.iter().sum()
    }
}

/// Runs the rules over the counted clicks with `ts` in `[from, to)`,
/// reading the rules' context before `from`, and appends an adjustment
/// for each click found that none adjusted yet.
pub(crate) fn rescore(
    store: &Store,
    rules: &Rules,
    from: SystemTime,
    to: SystemTime,
    now: SystemTime,
) -> Result<Rescored, RescoreError> {
    if from >= to {
        return Err(RescoreError::EmptyWindow);
    }
    store.prepare()?;
    let context = Duration::from_millis(rules.context_ms() as u64);
    let clicks = store.counted_clicks(from.checked_sub(context).unwrap_or(UNIX_EPOCH), to)?;
    let from_ms = time::unix_millis(from);
    let found = rules.evaluate(&clicks, from_ms);
    let done: HashSet<String> = store.adjustments()?.into_keys().collect();
    let run = format!("run-{}", time::unix_millis(now));
    let mut out = Rescored {
        run: run.clone(),
        clicks_read: clicks.len(),
        ..Rescored::default()
    };
    let mut adj = Vec::new();
    for f in found {
        let id = &clicks[f.index].click_id;
        if done.contains(id) {
            out.already += 1;
            continue;
        }
        out.new[f.reason.index()] += 1;
        adj.push(Adjustment {
            click_id: id.clone(),
            reason: f.reason,
            rule: f.rule,
            run: run.clone(),
            time: time::unix_secs(now),
        });
    }
    store.append_adjustments(&run, &adj)?;
    Ok(out)
}

/// Freezes a month that is over: its report at every group key, with the
/// adjustments made before now, kept for every later report of it.
pub(crate) fn freeze(
    store: &Store,
    month: &str,
    now: SystemTime,
) -> Result<FrozenMonth, FreezeError> {
    let (start, end) = time::month_range(month)?;
    if now < end {
        return Err(FreezeError::NotOver {
            month: month.to_string(),
            ends: end,
        });
    }
    store.prepare()?;
    let mut amendments = store.amendments()?;
    if amendments.frozen.contains_key(month) {
        return Err(FreezeError::AlreadyFrozen {
            month: month.to_string(),
        });
    }
    // Adjustments carry whole seconds: those of the freeze's second are in
    // the frozen numbers, and the freeze returns only once that second is
    // over, so every later adjustment is a credit.
    let frozen_at = time::unix_secs(now);
    amendments.adjusted_before = Some(frozen_at + 1);
    let q = Query {
        from: Some(start),
        to: Some(end),
        by: GroupKey::ALL.to_vec(),
        ..Query::default()
    };
    let rows = store.report(&q, &amendments)?.rows;
    let f = FrozenMonth {
        month: month.to_string(),
        frozen_at,
        rows,
    };
    store.put_state(StateKind::Frozen, month, &f.to_json())?;
    while time::unix_secs(SystemTime::now()) <= frozen_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_whose_address_retention_removed_are_not_grouped_by_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        // 40 clicks on one campaign in 40 seconds: a flood, were it one
        // address.
        let mut data = Vec::new();
        for i in 0..40 {
            let mut r = format!(
                r#"{{"ts":"2026-10-15T10:00:{i:02}.000Z","click_id":"c{i}","campaign":"c","impression":"i{i}","publisher":"p","verdict":"valid","ip":"[scrubbed]","user_agent":"desktop","device":"desktop"}}"#
            )
            .into_bytes();
            crate::spool::record::seal(&mut r);
            data.extend(r);
        }
        std::fs::write(dir.path().join("clicks/1-1-0001.ndjson"), data).unwrap();
        let store = Store::Local(dir.path().to_path_buf());
        let rules = Rules::from_config(&crate::config::BackendConfig::default()).unwrap();
        let (from, to) = time::month_range("2026-10").unwrap();
        let r = rescore(&store, &rules, from, to, to).unwrap();
        assert_eq!((r.clicks_read, r.total_new()), (40, 0));
    }

    #[test]
    fn rescore_and_freeze_refuse_what_they_cannot_do_by_variant() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        let store = Store::Local(dir.path().to_path_buf());
        let rules = Rules::from_config(&crate::config::BackendConfig::default()).unwrap();
        let (start, end) = time::month_range("2026-10").unwrap();
        assert!(matches!(
            rescore(&store, &rules, end, start, end),
            Err(RescoreError::EmptyWindow)
        ));
        let early = freeze(&store, "2026-10", start).unwrap_err();
        assert!(matches!(early, FreezeError::NotOver { .. }));
        assert_eq!(
            early.to_string(),
            "2026-10 is not over yet: a month is frozen once it has ended (at 2026-11-01T00:00:00Z)"
        );
        assert!(matches!(
            freeze(&store, "2026-1", end),
            Err(FreezeError::Month(TimeError::NotAMonth { .. }))
        ));
        assert_eq!(freeze(&store, "2026-10", end).unwrap().month, "2026-10");
        assert!(matches!(
            freeze(&store, "2026-10", end),
            Err(FreezeError::AlreadyFrozen { month }) if month == "2026-10"
        ));
    }
}
