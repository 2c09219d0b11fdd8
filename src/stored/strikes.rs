//! The publisher strike ladder (docs/contract.md §7, docs/methodology.md),
//! after the model of Google's publisher policies:
//!
//! - a *violation* is a day on which a publisher sent at least
//!   `backend.strikes.min_gross_clicks` gross clicks of which more than
//!   `max_invalid_share` were invalid;
//! - the first violation is a warning; each later one is a strike;
//! - the first active strike holds the publisher `hold_days[0]` days (3),
//!   the second `hold_days[1]` (7), the third suspends it;
//! - a hold ends once its days are over *and* the owner acknowledged it;
//! - a successful appeal removes the strike, and its hold, at once;
//! - a strike stops counting `expiry_days` (90) after it was given.
//!
//! The ladder is one state document (kind `strikes`, key `ladder`) in the
//! store. Days are UTC dates; every command takes the day it acts on, so
//! the ladder can be replayed and tested without waiting for the calendar.

use crate::config::StrikesConfig;
use crate::ivt::{PublisherStatus, PublisherStatuses, Reason};
use crate::stored::report::{Counts, GroupKey, Query};
use crate::stored::{StateKind, Store, StoreError};
use crate::time::{self, show_day, Day};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The key of the state document the ladder is kept in.
const KEY: &str = "ladder";

/// What the ladder refused, or could not read or write.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StrikesError {
    #[error("strike ladder: {0}")]
    Unreadable(serde_json::Error),
    #[error("{publisher:?} has no active strike to acknowledge")]
    NothingToAcknowledge { publisher: String },
    #[error("{publisher:?} has no active strike to appeal")]
    NothingToAppeal { publisher: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ladder's thresholds, each problem named by its key.
pub(crate) fn check_config(c: &StrikesConfig) -> Result<(), crate::config::Problems> {
    let mut p = crate::config::Problems::default();
    if !(0.0..1.0).contains(&c.max_invalid_share) {
        p.push(
            "backend.strikes.max_invalid_share",
            format!(
                "{}: give a share from 0 to below 1 (default {})",
                c.max_invalid_share,
                StrikesConfig::default().max_invalid_share
            ),
        );
    }
    if c.hold_days.contains(&0) {
        p.push(
            "backend.strikes.hold_days",
            "a hold of 0 days: give at least 1 (the strike after the last hold suspends)",
        );
    }
    if c.expiry_days == 0 {
        p.push(
            "backend.strikes.expiry_days",
            format!(
                "must be at least 1 (default {})",
                StrikesConfig::default().expiry_days
            ),
        );
    }
    p.or(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Strike {
    /// The violation's day.
    pub day: Day,
    /// Days held; 0: this strike suspends.
    pub hold_days: u32,
    pub acknowledged: bool,
    pub appealed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Standing {
    pub warned_on: Option<Day>,
    pub violations: Vec<Day>,
    pub strikes: Vec<Strike>,
}

/// Where a publisher stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Good,
    Warned,
    /// On hold; `until` is the first day the hold may end (it needs the
    /// acknowledgement too).
    Hold {
        until: Day,
        acknowledged: bool,
    },
    Suspended,
}

impl Status {
    pub(crate) fn edge(self) -> Option<PublisherStatus> {
        match self {
            Status::Hold { .. } => Some(PublisherStatus::Hold),
            Status::Suspended => Some(PublisherStatus::Suspended),
            Status::Good | Status::Warned => None,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Status::Good => "good".into(),
            Status::Warned => "warned".into(),
            Status::Hold {
                until,
                acknowledged,
            } => format!(
                "hold (days over on {}, {})",
                show_day(until),
                if acknowledged {
                    "acknowledged"
                } else {
                    "not acknowledged"
                }
            ),
            Status::Suspended => "suspended".into(),
        }
    }
}

impl Standing {
    fn active<'a>(&'a self, on: Day, expiry: u32) -> impl Iterator<Item = &'a Strike> + 'a {
        self.strikes
            .iter()
            .filter(move |s| !s.appealed && s.day <= on && on < s.day + i64::from(expiry))
    }

    pub(crate) fn status(&self, on: Day, cfg: &StrikesConfig) -> Status {
        let active: Vec<&Strike> = self.active(on, cfg.expiry_days).collect();
        if active.iter().any(|s| s.hold_days == 0) {
            return Status::Suspended;
        }
        if let Some(last) = active.last() {
            let until = last.day + 1 + i64::from(last.hold_days);
            if on < until || !last.acknowledged {
                return Status::Hold {
                    until,
                    acknowledged: last.acknowledged,
                };
            }
        }
        if self.warned_on.is_some_and(|w| w <= on) {
            Status::Warned
        } else {
            Status::Good
        }
    }

    fn latest_active_mut(&mut self, on: Day, expiry: u32) -> Option<&mut Strike> {
        self.strikes
            .iter_mut()
            .filter(|s| !s.appealed && s.day <= on && on < s.day + i64::from(expiry))
            .last()
    }
}

/// The whole ladder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ladder {
    pub publishers: BTreeMap<String, Standing>,
    /// Days already evaluated: evaluating one again changes nothing.
    pub evaluated: BTreeSet<Day>,
}

/// What one evaluation did to a publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub publisher: String,
    pub gross: u64,
    pub invalid: u64,
    pub what: Step,
}

/// What a violation did to a publisher's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The first violation: a warning, nothing held.
    Warning,
    /// A strike with the first hold.
    FirstHold,
    /// A later strike with a longer hold.
    Hold,
    /// The strike after the last hold.
    Suspended,
    /// A violation while held or suspended: not judged again until back.
    WhileHeld,
}

impl Step {
    /// What `strikes evaluate` prints.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Step::Warning => "warning",
            Step::FirstHold => "strike: first hold",
            Step::Hold => "strike: hold",
            Step::Suspended => "strike: suspended",
            Step::WhileHeld => "violation while held: no new strike",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a strike is settled (`strikes acknowledge`, `strikes appeal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// The owner acknowledged the hold.
    Acknowledged,
    /// The appeal was upheld.
    Appealed,
}

impl Ladder {
    pub(crate) fn from_json(text: &str) -> Result<Ladder, StrikesError> {
        serde_json::from_str(text).map_err(StrikesError::Unreadable)
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The ladder as the store keeps it; a new one when there is none.
    pub(crate) fn load(store: &Store) -> Result<Ladder, StrikesError> {
        store.prepare()?;
        match store.states(StateKind::Strikes)?.get(KEY) {
            Some(body) => Ladder::from_json(body),
            None => Ok(Ladder::default()),
        }
    }

    /// Keeps the ladder in the store (a new version of its document).
    pub(crate) fn save(&self, store: &Store) -> Result<(), StrikesError> {
        Ok(store.put_state(StateKind::Strikes, KEY, &self.to_json())?)
    }

    /// Applies a day's clicks per publisher. `None` when the day was
    /// evaluated before (nothing changes).
    pub(crate) fn evaluate(
        &mut self,
        day: Day,
        by_publisher: &BTreeMap<String, Counts>,
        cfg: &StrikesConfig,
    ) -> Option<Vec<Outcome>> {
        if !self.evaluated.insert(day) {
            return None;
        }
        let mut out = Vec::new();
        for (publisher, c) in by_publisher {
            if publisher.is_empty() {
                continue;
            }
            // The clicks the ladder itself marked are not the publisher's
            // traffic being judged again.
            let marked = c.by_reason[Reason::PublisherHold.index()]
                + c.by_reason[Reason::PublisherSuspended.index()];
            let gross = c.gross() - marked;
            let invalid = c.invalid - marked;
            if gross < cfg.min_gross_clicks
                || (invalid as f64) <= cfg.max_invalid_share * gross as f64
            {
                continue;
            }
            let standing = self.publishers.entry(publisher.clone()).or_default();
            let what = match standing.status(day, cfg) {
                // A publisher already held or suspended is not judged again
                // until it is back.
                Status::Hold { .. } | Status::Suspended => Step::WhileHeld,
                Status::Good if standing.warned_on.is_none() => {
                    standing.warned_on = Some(day);
                    Step::Warning
                }
                Status::Good | Status::Warned => {
                    let n = standing.active(day, cfg.expiry_days).count();
                    let hold_days = cfg.hold_days.get(n).copied().unwrap_or(0);
                    standing.strikes.push(Strike {
                        day,
                        hold_days,
                        acknowledged: false,
                        appealed: false,
                    });
                    match hold_days {
                        0 => Step::Suspended,
                        _ if n == 0 => Step::FirstHold,
                        _ => Step::Hold,
                    }
                }
            };
            standing.violations.push(day);
            out.push(Outcome {
                publisher: publisher.clone(),
                gross,
                invalid,
                what,
            });
        }
        Some(out)
    }

    /// The publisher's latest active strike settled: acknowledged by the
    /// owner (a hold can end), or appealed successfully (the strike is
    /// removed, and its hold or suspension with it).
    pub(crate) fn settle(
        &mut self,
        publisher: &str,
        on: Day,
        cfg: &StrikesConfig,
        how: Settlement,
    ) -> Result<(), StrikesError> {
        let Some(strike) = self.latest_active(publisher, on, cfg) else {
            let publisher = publisher.to_string();
            return Err(match how {
                Settlement::Acknowledged => StrikesError::NothingToAcknowledge { publisher },
                Settlement::Appealed => StrikesError::NothingToAppeal { publisher },
            });
        };
        match how {
            Settlement::Acknowledged => strike.acknowledged = true,
            Settlement::Appealed => strike.appealed = true,
        }
        Ok(())
    }

    /// The publisher's latest strike still in force on `on`.
    fn latest_active(
        &mut self,
        publisher: &str,
        on: Day,
        cfg: &StrikesConfig,
    ) -> Option<&mut Strike> {
        self.publishers
            .get_mut(publisher)
            .and_then(|s| s.latest_active_mut(on, cfg.expiry_days))
    }

    /// The publishers the edges must mark, as `ivt.publisher_status_file`
    /// reads them.
    pub(crate) fn export(&self, on: Day, cfg: &StrikesConfig) -> String {
        PublisherStatuses::to_text(
            self.publishers
                .iter()
                .filter_map(|(p, s)| s.status(on, cfg).edge().map(|st| (p.as_str(), st))),
        )
    }

    /// One line per publisher: status, active strikes, warning.
    pub(crate) fn list(&self, on: Day, cfg: &StrikesConfig) -> Vec<String> {
        self.publishers
            .iter()
            .map(|(p, s)| {
                format!(
                    "{p}\t{}\tactive strikes {}\twarned {}",
                    s.status(on, cfg).describe(),
                    s.active(on, cfg.expiry_days).count(),
                    s.warned_on.map_or_else(|| "-".to_string(), show_day),
                )
            })
            .collect()
    }
}

/// Counts each publisher's clicks on `day` (UTC) and applies the ladder,
/// which is kept when it changed. `None` when the day was evaluated before
/// (nothing changes).
pub(crate) fn evaluate_day(
    store: &Store,
    day: Day,
    cfg: &StrikesConfig,
) -> Result<Option<Vec<Outcome>>, StrikesError> {
    let mut ladder = Ladder::load(store)?;
    let from = time::day_start(day);
    let q = Query {
        from: Some(from),
        to: Some(from + time::DAY),
        by: vec![GroupKey::Publisher],
        ..Query::default()
    };
    let rows = store.report(&q, &store.amendments()?)?.rows;
    let by_publisher = rows
        .into_iter()
        .map(|(k, c)| (k.into_iter().next().unwrap_or_default(), c))
        .collect();
    let outcomes = ladder.evaluate(day, &by_publisher, cfg);
    if outcomes.is_some() {
        ladder.save(store)?;
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        time::parse_day(s).unwrap()
    }

    fn counts(gross: u64, invalid: u64) -> BTreeMap<String, Counts> {
        let mut c = Counts {
            valid: gross - invalid,
            invalid,
            ..Counts::default()
        };
        c.by_reason[Reason::NonBrowser.index()] = invalid;
        BTreeMap::from([("pub-x".to_string(), c)])
    }

    #[test]
    fn the_ladder_from_warning_to_suspension_appeal_and_expiry() {
        let cfg = StrikesConfig::default();
        let mut l = Ladder::default();
        let st = |l: &Ladder, d: &str| l.publishers["pub-x"].status(day(d), &cfg);
        // Too few clicks, or a low invalid share: no violation.
        assert_eq!(
            l.evaluate(day("2026-01-01"), &counts(99, 99), &cfg),
            Some(vec![])
        );
        assert_eq!(
            l.evaluate(day("2026-01-02"), &counts(1000, 500), &cfg),
            Some(vec![])
        );
        // The first violation warns.
        let o = l
            .evaluate(day("2026-01-03"), &counts(200, 150), &cfg)
            .unwrap();
        assert_eq!(o[0].what, Step::Warning);
        assert_eq!(st(&l, "2026-01-03"), Status::Warned);
        // The same day again changes nothing.
        assert_eq!(l.evaluate(day("2026-01-03"), &counts(200, 150), &cfg), None);
        // The next one is a strike: a 3-day hold, not lifted before the
        // acknowledgement.
        let o = l
            .evaluate(day("2026-01-10"), &counts(200, 150), &cfg)
            .unwrap();
        assert_eq!(o[0].what, Step::FirstHold);
        assert!(matches!(st(&l, "2026-01-10"), Status::Hold { .. }));
        assert!(matches!(
            st(&l, "2026-01-20"),
            Status::Hold {
                acknowledged: false,
                ..
            }
        ));
        assert_eq!(l.export(day("2026-01-20"), &cfg), "# clickedge publisher statuses (strikes export): PUBLISHER<TAB>hold|suspended\npub-x\thold\n");
        l.settle("pub-x", day("2026-01-11"), &cfg, Settlement::Acknowledged)
            .unwrap();
        assert!(matches!(
            st(&l, "2026-01-13"),
            Status::Hold {
                acknowledged: true,
                ..
            }
        ));
        assert_eq!(
            st(&l, "2026-01-14"),
            Status::Warned,
            "3 days over and acknowledged"
        );
        // Held publishers are not struck again.
        let o = l
            .evaluate(day("2026-01-12"), &counts(200, 150), &cfg)
            .unwrap();
        assert_eq!(o[0].what, Step::WhileHeld);
        // Second strike: 7 days.
        l.evaluate(day("2026-02-01"), &counts(200, 150), &cfg)
            .unwrap();
        l.settle("pub-x", day("2026-02-01"), &cfg, Settlement::Acknowledged)
            .unwrap();
        assert!(matches!(st(&l, "2026-02-07"), Status::Hold { .. }));
        assert_eq!(st(&l, "2026-02-09"), Status::Warned);
        // Third: suspended.
        let o = l
            .evaluate(day("2026-02-15"), &counts(200, 150), &cfg)
            .unwrap();
        assert_eq!(o[0].what, Step::Suspended);
        assert_eq!(st(&l, "2026-02-15"), Status::Suspended);
        assert!(l
            .export(day("2026-02-15"), &cfg)
            .contains("pub-x\tsuspended"));
        // A successful appeal lifts it at once.
        l.settle("pub-x", day("2026-02-16"), &cfg, Settlement::Appealed)
            .unwrap();
        assert_eq!(st(&l, "2026-02-16"), Status::Warned);
        assert!(!l.export(day("2026-02-16"), &cfg).contains("pub-x"));
        // 90 days after the second strike, no strike is active: the next
        // violation is a first hold again.
        let o = l
            .evaluate(day("2026-05-02"), &counts(200, 150), &cfg)
            .unwrap();
        assert_eq!(o[0].what, Step::FirstHold);
        // Round trip through the stored form.
        assert_eq!(Ladder::from_json(&l.to_json()).unwrap(), l);
        assert!(matches!(
            l.settle("nobody", day("2026-05-02"), &cfg, Settlement::Appealed),
            Err(StrikesError::NothingToAppeal { publisher }) if publisher == "nobody"
        ));
    }

    #[test]
    fn bad_thresholds_are_named() {
        let c = StrikesConfig {
            max_invalid_share: 1.5,
            hold_days: vec![3, 0],
            expiry_days: 0,
            ..StrikesConfig::default()
        };
        let e = check_config(&c).unwrap_err().to_string();
        for key in ["max_invalid_share", "hold_days", "expiry_days"] {
            assert!(e.contains(key), "{e}");
        }
        assert!(check_config(&StrikesConfig::default()).is_ok());
    }

    #[test]
    fn a_day_is_evaluated_from_the_store_once_and_the_ladder_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("clicks")).unwrap();
        // 200 clicks from one publisher on one day, 150 of them invalid.
        let mut data = Vec::new();
        for i in 0..200 {
            let verdict = if i < 150 { "invalid" } else { "valid" };
            let mut r = format!(
                r#"{{"ts":"2026-01-03T10:{:02}:{:02}.000Z","click_id":"c{i}","campaign":"c","impression":"i{i}","publisher":"pub-x","verdict":"{verdict}","reason":"non_browser","ip":"203.0.113.0","user_agent":"ua","device":"desktop"}}"#,
                i / 60,
                i % 60
            )
            .into_bytes();
            crate::spool::record::seal(&mut r);
            data.extend(r);
        }
        std::fs::write(dir.path().join("clicks/1-1-0001.ndjson"), data).unwrap();
        let store = Store::Local(dir.path().to_path_buf());
        let cfg = StrikesConfig::default();
        let o = evaluate_day(&store, day("2026-01-03"), &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(
            (o[0].gross, o[0].invalid, o[0].what),
            (200, 150, Step::Warning)
        );
        assert_eq!(evaluate_day(&store, day("2026-01-03"), &cfg).unwrap(), None);
        assert_eq!(
            evaluate_day(&store, day("2026-01-04"), &cfg).unwrap(),
            Some(vec![])
        );
        let kept = Ladder::load(&store).unwrap();
        assert_eq!(kept.evaluated.len(), 2);
        assert_eq!(kept.publishers["pub-x"].warned_on, Some(day("2026-01-03")));
    }

    #[test]
    fn each_step_prints_as_strikes_evaluate_says_it() {
        let all = [
            (Step::Warning, "warning"),
            (Step::FirstHold, "strike: first hold"),
            (Step::Hold, "strike: hold"),
            (Step::Suspended, "strike: suspended"),
            (Step::WhileHeld, "violation while held: no new strike"),
        ];
        for (step, text) in all {
            assert_eq!(step.to_string(), text);
        }
    }

    #[test]
    fn an_unreadable_ladder_is_refused_by_name() {
        let e = Ladder::from_json("{").unwrap_err();
        assert!(matches!(e, StrikesError::Unreadable(_)));
        assert!(e.to_string().starts_with("strike ladder: "), "{e}");
    }
}
