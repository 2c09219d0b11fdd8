//! The activity rules `clickedge rescore` runs over stored clicks
//! (docs/methodology.md): what no single request shows, found across many.
//!
//! Each rule looks only at counted clicks (verdict `valid`) and at the
//! clicks before each one, never after: whether a click is flagged depends
//! on its own past alone, so rescoring a window twice, or in two halves
//! with the context read before each, finds the same clicks.

use crate::config::{BackendConfig, Problems};
use crate::ivt::BackendReason;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A counted click as the rules read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredClick {
    pub click_id: String,
    /// Unix milliseconds of `ts`.
    pub ms: i64,
    pub campaign: String,
    pub publisher: String,
    pub impression: String,
    /// A template click's ad-platform click id (`gclid`...); empty for a
    /// classic click.
    pub platform_click_id: String,
    /// The stored (privacy-reduced) address.
    pub ip: String,
    pub user_agent: String,
}

impl StoredClick {
    /// The impression the click came from: `imp`, or, for a template click
    /// without one, the platform's click id, which the ad platform mints
    /// for each ad click as `imp` is minted for each impression (the edge's
    /// duplicate check keys on them in the same order). Tagged, so an `imp`
    /// and a click id that happen to be spelled alike stay two.
    fn impression_key(&self) -> (bool, &str) {
        if self.impression.is_empty() && !self.platform_click_id.is_empty() {
            (true, &self.platform_click_id)
        } else {
            (false, &self.impression)
        }
    }
}

/// A click a rule found, with the rule's id (its reason and limits, so a
/// dispute can be answered with the rule as it stood).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub index: usize,
    pub reason: BackendReason,
    pub rule: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Rules {
    flood: Option<(usize, i64)>,
    spread: Option<(usize, usize, i64)>,
    spike: Option<(f64, usize, i64)>,
    cycling: Option<(usize, i64)>,
}

const HOUR_MS: i64 = 3_600_000;

impl Rules {
    pub(crate) fn from_config(c: &BackendConfig) -> Result<Rules, Problems> {
        let mut p = Problems::default();
        let mut window = |key: &str, secs: u64| -> i64 {
            if secs == 0 || secs > 7 * 86_400 {
                p.push(
                    format!("backend.{key}.window_seconds"),
                    format!("{secs}: give 1 to 604800 (a week)"),
                );
            }
            secs as i64 * 1000
        };
        let flood = c.click_flood.enabled.then(|| {
            (
                c.click_flood.max_clicks as usize,
                window("click_flood", c.click_flood.window_seconds),
            )
        });
        let spread = c.address_spread.enabled.then(|| {
            (
                c.address_spread.max_campaigns as usize,
                c.address_spread.max_publishers as usize,
                window("address_spread", c.address_spread.window_seconds),
            )
        });
        let cycling = c.impression_cycling.enabled.then(|| {
            (
                c.impression_cycling.max_impressions as usize,
                window("impression_cycling", c.impression_cycling.window_seconds),
            )
        });
        let s = &c.publisher_spike;
        if s.enabled && !(s.factor >= 1.0 && s.factor.is_finite()) {
            p.push(
                "backend.publisher_spike.factor",
                format!(
                    "{}: give a number of at least 1 (default {})",
                    s.factor,
                    crate::config::PublisherSpikeRule::default().factor
                ),
            );
        }
        if s.enabled && !(1..=24 * 28).contains(&s.baseline_hours) {
            p.push(
                "backend.publisher_spike.baseline_hours",
                format!("{}: give 1 to 672 (four weeks)", s.baseline_hours),
            );
        }
        let spike = s.enabled.then(|| {
            (
                s.factor,
                s.min_clicks as usize,
                i64::from(s.baseline_hours) * HOUR_MS,
            )
        });
        p.or(Rules {
            flood,
            spread,
            spike,
            cycling,
        })
    }

    /// How far before a window's start the rules read, so the clicks at
    /// its start are judged with their past.
    pub(crate) fn context_ms(&self) -> i64 {
        [
            self.flood.map_or(0, |f| f.1),
            self.spread.map_or(0, |s| s.2),
            self.cycling.map_or(0, |c| c.1),
            self.spike.map_or(0, |s| s.2 + HOUR_MS),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// The clicks at or after `from_ms` that a rule finds, one finding a
    /// click: the first rule in [`BackendReason`] order. `clicks` may hold
    /// context before `from_ms`, in any order.
    pub(crate) fn evaluate(&self, clicks: &[StoredClick], from_ms: i64) -> Vec<Finding> {
        let mut order: Vec<usize> = (0..clicks.len()).collect();
        order.sort_by(|&a, &b| {
            (clicks[a].ms, &clicks[a].click_id).cmp(&(clicks[b].ms, &clicks[b].click_id))
        });
        let mut found: Vec<Option<(BackendReason, String)>> = vec![None; clicks.len()];
        let mut mark = |i: usize, reason: BackendReason, rule: &str| {
            if clicks[i].ms >= from_ms && found[i].is_none() {
                found[i] = Some((reason, rule.to_string()));
            }
        };
        if let Some((max, window)) = self.flood {
            let rule = format!("click_flood:{max}/{}s", window / 1000);
            over_limit(
                clicks,
                &order,
                |c| (c.ip.as_str(), c.campaign.as_str()),
                |_| None::<&str>,
                max,
                window,
                |i| mark(i, BackendReason::ClickFlood, &rule),
            );
        }
        if let Some((campaigns, publishers, window)) = self.spread {
            let rule = format!(
                "address_spread:{campaigns}c/{publishers}p/{}s",
                window / 1000
            );
            for (item, max) in [
                (
                    &(|c: &StoredClick| c.campaign.clone()) as &dyn Fn(&StoredClick) -> String,
                    campaigns,
                ),
                (&|c: &StoredClick| c.publisher.clone(), publishers),
            ] {
                over_limit(
                    clicks,
                    &order,
                    |c| c.ip.as_str(),
                    |c| Some(item(c)),
                    max,
                    window,
                    |i| mark(i, BackendReason::AddressSpread, &rule),
                );
            }
        }
        if let Some((factor, min, baseline)) = self.spike {
            let rule = format!("publisher_spike:x{factor}/min{min}/{}h", baseline / HOUR_MS);
            spikes(clicks, &order, factor, min, baseline / HOUR_MS, |i| {
                mark(i, BackendReason::PublisherSpike, &rule)
            });
        }
        if let Some((max, window)) = self.cycling {
            let rule = format!("impression_cycling:{max}/{}s", window / 1000);
            over_limit(
                clicks,
                &order,
                |c| (c.ip.as_str(), c.user_agent.as_str()),
                |c| Some(c.impression_key()),
                max,
                window,
                |i| mark(i, BackendReason::ImpressionCycling, &rule),
            );
        }
        found
            .into_iter()
            .enumerate()
            .filter_map(|(index, f)| {
                f.map(|(reason, rule)| Finding {
                    index,
                    reason,
                    rule,
                })
            })
            .collect()
    }
}

/// Per key, over a sliding window of `window` ms ending at each click: a
/// click is over the limit when the window then holds more than `max`
/// clicks (no `item`) or more than `max` distinct items. Clicks without a
/// key (an empty address) are left alone: there is nothing to group by.
fn over_limit<'a, K: Hash + Eq + KeyIsEmpty, I: Hash + Eq>(
    clicks: &'a [StoredClick],
    order: &[usize],
    key: impl Fn(&'a StoredClick) -> K,
    item: impl Fn(&'a StoredClick) -> Option<I>,
    max: usize,
    window: i64,
    mut flag: impl FnMut(usize),
) {
    let mut groups: HashMap<K, Vec<usize>> = HashMap::new();
    for &i in order {
        let k = key(&clicks[i]);
        if !k.is_empty() {
            groups.entry(k).or_default().push(i);
        }
    }
    for members in groups.values() {
        let mut inside: VecDeque<usize> = VecDeque::new();
        let mut items: HashMap<I, usize> = HashMap::new();
        for &i in members {
            let now = clicks[i].ms;
            while let Some(&old) = inside.front() {
                if clicks[old].ms > now - window {
                    break;
                }
                inside.pop_front();
                if let Some(it) = item(&clicks[old]) {
                    if let Some(n) = items.get_mut(&it) {
                        *n -= 1;
                        if *n == 0 {
                            items.remove(&it);
                        }
                    }
                }
            }
            inside.push_back(i);
            let distinct = match item(&clicks[i]) {
                Some(it) => {
                    *items.entry(it).or_default() += 1;
                    items.len()
                }
                None => inside.len(),
            };
            if distinct > max {
                flag(i);
            }
        }
    }
}

/// Whether a grouping key is missing (an empty stored address).
trait KeyIsEmpty {
    fn is_empty(&self) -> bool;
}

impl KeyIsEmpty for &str {
    fn is_empty(&self) -> bool {
        str::is_empty(self)
    }
}

impl KeyIsEmpty for (&str, &str) {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Per publisher and clock hour: the clicks past
/// `max(min, factor x the mean of the `hours` hours before)`.
fn spikes(
    clicks: &[StoredClick],
    order: &[usize],
    factor: f64,
    min: usize,
    hours: i64,
    mut flag: impl FnMut(usize),
) {
    let mut by_hour: HashMap<&str, std::collections::BTreeMap<i64, Vec<usize>>> = HashMap::new();
    for &i in order {
        let c = &clicks[i];
        if !c.publisher.is_empty() {
            by_hour
                .entry(c.publisher.as_str())
                .or_default()
                .entry(c.ms.div_euclid(HOUR_MS))
                .or_default()
                .push(i);
        }
    }
    for hours_of in by_hour.values() {
        for (&h, members) in hours_of {
            let before: usize = hours_of.range(h - hours..h).map(|(_, m)| m.len()).sum();
            let mean = before as f64 / hours as f64;
            let allowed = min.max((factor * mean).ceil() as usize);
            for &i in members.iter().skip(allowed) {
                flag(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(id: usize, ms: i64, ip: &str, campaign: &str, imp: &str) -> StoredClick {
        StoredClick {
            click_id: format!("c{id:05}"),
            ms,
            campaign: campaign.into(),
            publisher: "pub".into(),
            impression: imp.into(),
            platform_click_id: String::new(),
            ip: ip.into(),
            user_agent: "ua".into(),
        }
    }

    fn only_flood() -> Rules {
        let mut c = BackendConfig::default();
        c.address_spread.enabled = false;
        c.publisher_spike.enabled = false;
        c.impression_cycling.enabled = false;
        Rules::from_config(&c).unwrap()
    }

    #[test]
    fn a_flood_is_found_past_the_limit_and_a_handful_left_alone() {
        let rules = only_flood();
        let mut clicks = Vec::new();
        // 300 clicks from one address on one campaign within a minute.
        for i in 0..300 {
            clicks.push(click(
                i,
                1_000_000 + i as i64 * 150,
                "198.51.100.0",
                "cmp",
                &format!("i{i}"),
            ));
        }
        // A handful from another address, and the same address elsewhere.
        for i in 0..5 {
            clicks.push(click(
                1000 + i,
                1_000_000 + i as i64 * 1000,
                "203.0.113.0",
                "cmp",
                "x",
            ));
            clicks.push(click(
                2000 + i,
                1_000_000 + i as i64 * 1000,
                "198.51.100.0",
                "other",
                "y",
            ));
        }
        let found = rules.evaluate(&clicks, 0);
        assert_eq!(found.len(), 300 - 30);
        assert!(found.iter().all(|f| f.index < 300 && f.index >= 30));
        assert!(found.iter().all(|f| f.reason == BackendReason::ClickFlood));
        assert_eq!(found[0].rule, "click_flood:30/60s");
        // Spread over an hour, the same 300 are no flood.
        for (i, c) in clicks.iter_mut().take(300).enumerate() {
            c.ms = 1_000_000 + i as i64 * 12_000;
        }
        assert!(rules.evaluate(&clicks, 0).is_empty());
    }

    #[test]
    fn a_click_is_judged_by_its_past_alone() {
        let rules = only_flood();
        let clicks: Vec<_> = (0..100)
            .map(|i| click(i, 5_000 + i as i64 * 100, "a", "c", ""))
            .collect();
        let all: Vec<usize> = rules.evaluate(&clicks, 0).iter().map(|f| f.index).collect();
        // The second half alone, with the first as context: the same clicks.
        let cut = clicks[50].ms;
        let second: Vec<usize> = rules
            .evaluate(&clicks, cut)
            .iter()
            .map(|f| f.index)
            .collect();
        assert_eq!(
            second,
            all.iter().copied().filter(|&i| i >= 50).collect::<Vec<_>>()
        );
        // Clicks without an address are never grouped.
        let anon: Vec<_> = (0..100)
            .map(|i| click(i, 5_000 + i as i64, "", "c", ""))
            .collect();
        assert!(rules.evaluate(&anon, 0).is_empty());
    }

    #[test]
    fn spread_spike_and_cycling() {
        let c = BackendConfig::default();
        let rules = Rules::from_config(&c).unwrap();
        // One address, 25 campaigns in five minutes: the 21st on is spread.
        let clicks: Vec<_> = (0..25)
            .map(|i| click(i, 10_000 + i as i64 * 10_000, "a", &format!("c{i}"), ""))
            .collect();
        let f = rules.evaluate(&clicks, 0);
        assert_eq!(
            f.iter().map(|f| f.index).collect::<Vec<_>>(),
            (20..25).collect::<Vec<_>>()
        );
        assert!(f.iter().all(|f| f.reason == BackendReason::AddressSpread));

        // 60 impressions from one address and agent in an hour: cycling
        // after 50 (campaigns kept under the spread limit).
        let clicks: Vec<_> = (0..60)
            .map(|i| click(i, i as i64 * 50_000, "b", "c", &format!("imp{i}")))
            .collect();
        let f = rules.evaluate(&clicks, 0);
        assert_eq!(f.len(), 10);
        assert!(f
            .iter()
            .all(|f| f.reason == BackendReason::ImpressionCycling));
        // The same as template clicks: a platform click id each, no `imp`.
        let templates: Vec<_> = clicks
            .iter()
            .map(|c| StoredClick {
                impression: String::new(),
                platform_click_id: format!("gclid-{}", c.click_id),
                ..c.clone()
            })
            .collect();
        assert_eq!(rules.evaluate(&templates, 0), f);

        // A publisher at 10 clicks an hour for a day, then 1,000 in an hour
        // from 1,000 addresses: past max(500, 10 x 10) = 500 is a spike.
        let mut clicks = Vec::new();
        let mut n = 0;
        for h in 0..24 {
            for k in 0..10 {
                clicks.push(click(n, h * HOUR_MS + k * 1000, &format!("x{n}"), "c", ""));
                n += 1;
            }
        }
        for k in 0..1000 {
            clicks.push(click(n, 24 * HOUR_MS + k * 1000, &format!("x{n}"), "c", ""));
            n += 1;
        }
        let f = rules.evaluate(&clicks, 24 * HOUR_MS);
        assert_eq!(f.len(), 500);
        assert!(f.iter().all(|f| f.reason == BackendReason::PublisherSpike));
    }

    #[test]
    fn bad_limits_are_named() {
        let mut c = BackendConfig::default();
        c.click_flood.window_seconds = 0;
        c.publisher_spike.factor = 0.5;
        let e = Rules::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("backend.click_flood.window_seconds"), "{e}");
        assert!(e.contains("backend.publisher_spike.factor"), "{e}");
    }
}
