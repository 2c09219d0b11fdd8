//! The policy: everything read from the config and the files it names that
//! decides whether a click is accepted and how it is judged — signing keys,
//! allowed hosts, bot lists, IP lists, actions.
//!
//! Built whole by [`Policy::load`], which reads every file and reports every
//! problem; shared read-only behind an `ArcSwap`; replaced whole on reload,
//! so a request sees either the old policy or the new one, never a mix. A
//! policy that fails to load is never installed: the old one stays.

use crate::click::ClickPolicy;
use crate::config::{Config, Problems};
use crate::ivt::bots::{
    read_list, tiers, IabExclude, IabInclude, PatternList, BUILTIN_DEVICES, BUILTIN_HEURISTICS,
    BUILTIN_NAMED, BUILTIN_PATTERNS, BUILTIN_SCANNERS,
};
use crate::ivt::{Actions, BotLists, Classifier, DatacenterAsns, IpSet};

#[derive(Debug)]
pub struct Policy {
    /// Unique to this load: what a cache of verdicts made under a policy
    /// checks before it trusts them.
    pub generation: u64,
    pub click: ClickPolicy,
    pub ivt: Classifier,
    /// `geo.country_db`, when configured.
    pub country: Option<crate::geo::CountryDb>,
    /// The version of the rules bundle whose lists are in this policy (0:
    /// none).
    pub bundle_version: u64,
    /// Why the kept rules bundle was left out, if it was: the edge runs on
    /// its other lists and says so, rather than refusing to start.
    pub bundle_refused: Option<BundleLeftOut>,
}

/// Why a kept rules bundle is not in a policy.
#[derive(Debug, thiserror::Error)]
pub enum BundleLeftOut {
    /// Its signature or files do not hold under `rules.public_key` (the
    /// key was rotated, or the file was changed).
    #[error("the kept rules bundle fails verification: {0}")]
    Unverified(String),
    /// It verifies, but a list in it does not load.
    #[error("the kept rules bundle (version {version}) has a list that does not load: {lists}")]
    Unloadable {
        version: u64,
        lists: crate::bundle::Unloadable,
    },
}

impl Policy {
    /// Reads every list the config names. `Err` lists every problem, each
    /// naming its key, file and line.
    pub fn load(cfg: &Config) -> Result<Policy, Problems> {
        let mut typed = Problems::default();
        let click = typed.take(ClickPolicy::from_config(&cfg.signing, &cfg.click));
        let actions = typed.take(Actions::from_config(&cfg.ivt.actions));
        if cfg.ivt.duplicate_window_seconds > 30 * 86_400 {
            typed.push(
                "ivt.duplicate_window_seconds",
                format!(
                    "{} is more than 30 days (2592000); a double click comes within \
                     seconds (default 60)",
                    cfg.ivt.duplicate_window_seconds
                ),
            );
        }
        if cfg.ivt.duplicate_window_seconds > 0 && cfg.ivt.duplicate_max_entries == 0 {
            typed.push(
                "ivt.duplicate_max_entries",
                "must be greater than 0 while the window is on",
            );
        }
        let mut problems: Vec<String> = Vec::new();
        let (bundle, bundle_refused) = match rules_bundle(cfg, &mut problems) {
            Ok(b) => (b, None),
            Err(why) => (None, Some(why)),
        };
        let from_bundle = |name: &str| bundle.as_ref().and_then(|b| b.files.get(name));
        let i = &cfg.ivt;
        let b = &i.bots;
        let mut texts: Vec<(String, String)> = Vec::new();
        // The builtin list's heuristics flag; its confident patterns and
        // every operator file block (an operator who names a bot means it).
        let mut heuristic_text = String::new();
        if b.builtin {
            let (known, heuristic) = tiers(BUILTIN_PATTERNS);
            texts.push(("builtin bot list".to_string(), known));
            texts.push(("builtin named bots".to_string(), BUILTIN_NAMED.to_string()));
            heuristic_text = heuristic;
        }
        for f in &b.pattern_files {
            match read_list(f) {
                Ok(t) => texts.push((f.display().to_string(), t)),
                Err(e) => problems.push(format!("ivt.bots.pattern_files: {e}")),
            }
        }
        // The bundle's patterns block like the operator's own files.
        if let Some(t) = from_bundle("bot_patterns.txt") {
            texts.push(("bundle bot_patterns.txt".into(), t.clone()));
        }
        let patterns = PatternList::compile(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .unwrap_or_else(|e| {
                problems.push(format!("ivt.bots: {e}"));
                PatternList::default()
            });
        let heuristics = PatternList::compile([
            ("builtin bot list", heuristic_text.as_str()),
            (
                "builtin heuristics",
                if b.builtin { BUILTIN_HEURISTICS } else { "" },
            ),
        ])
        .unwrap_or_else(|e| {
            problems.push(format!("ivt.bots: {e}"));
            PatternList::default()
        });
        let devices = if b.builtin {
            PatternList::compile([("builtin device markers", BUILTIN_DEVICES)]).unwrap_or_else(
                |e| {
                    problems.push(format!("ivt.bots: {e}"));
                    PatternList::default()
                },
            )
        } else {
            PatternList::default()
        };
        let mut scanner_texts: Vec<(String, String)> = Vec::new();
        if b.builtin {
            scanner_texts.push(("builtin link scanners".into(), BUILTIN_SCANNERS.into()));
        }
        for f in &b.link_scanner_files {
            match read_list(f) {
                Ok(t) => scanner_texts.push((f.display().to_string(), t)),
                Err(e) => problems.push(format!("ivt.bots.link_scanner_files: {e}")),
            }
        }
        if let Some(t) = from_bundle("link_scanners.txt") {
            scanner_texts.push(("bundle link_scanners.txt".into(), t.clone()));
        }
        let scanners =
            PatternList::compile(scanner_texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))
                .unwrap_or_else(|e| {
                    problems.push(format!("ivt.bots.link_scanner_files: {e}"));
                    PatternList::default()
                });
        let mut iab = |key: &str, path: &Option<std::path::PathBuf>| -> Option<String> {
            let path = path.as_ref()?;
            read_list(path)
                .map_err(|e| problems.push(format!("ivt.bots.{key}: {e}")))
                .ok()
        };
        let exclude_text = iab("iab_exclude_file", &b.iab_exclude_file);
        let include_text = iab("iab_include_file", &b.iab_include_file);
        let ip_text = iab("iab_ip_file", &b.iab_ip_file);
        let iab_exclude = exclude_text.and_then(|t| {
            IabExclude::parse(&t)
                .map_err(|e| {
                    problems.push(format!(
                        "ivt.bots.iab_exclude_file: {}: {e}",
                        show(&b.iab_exclude_file)
                    ))
                })
                .ok()
        });
        let iab_include = include_text.and_then(|t| {
            IabInclude::parse(&t)
                .map_err(|e| {
                    problems.push(format!(
                        "ivt.bots.iab_include_file: {}: {e}",
                        show(&b.iab_include_file)
                    ))
                })
                .ok()
        });
        let mut bot_ips = IpSet::default();
        if let Some(t) = ip_text {
            if let Err(e) = bot_ips.extend_from_text(&t) {
                problems.push(format!(
                    "ivt.bots.iab_ip_file: {}: {e}",
                    show(&b.iab_ip_file)
                ));
            }
        }
        let mut internal = ip_set(
            "internal",
            &i.internal_ips,
            &i.internal_ip_files,
            &mut problems,
        );
        let mut datacenter = ip_set(
            "datacenter",
            &i.datacenter_ips,
            &i.datacenter_ip_files,
            &mut problems,
        );
        for (name, set) in [
            ("internal_ips.txt", &mut internal),
            ("datacenter_ips.txt", &mut datacenter),
        ] {
            if let Some(t) = from_bundle(name) {
                if let Err(e) = set.extend_from_text(t) {
                    problems.push(format!("rules bundle {name}: {e}"));
                }
            }
        }
        let mut publishers = i
            .publisher_status_file
            .as_ref()
            .map(|p| {
                crate::ivt::PublisherStatuses::read(p)
                    .map_err(|e| problems.push(format!("ivt.publisher_status_file: {e}")))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        if let Some(t) = from_bundle("publishers.tsv") {
            match crate::ivt::PublisherStatuses::parse(t) {
                Ok(p) => publishers.merge(p),
                Err(e) => problems.push(format!("rules bundle publishers.tsv: {e}")),
            }
        }
        let asns = cfg.geo.asn_db.as_ref().and_then(|p| {
            let db = crate::geo::AsnDb::open(p)
                .map_err(|e| problems.push(format!("geo.asn_db: {e}")))
                .ok()?;
            let mut numbers: std::collections::HashSet<u32> =
                i.datacenter_asns.iter().copied().collect();
            if i.datacenter_asns_builtin {
                numbers.extend(
                    DatacenterAsns::parse_numbers(crate::ivt::BUILTIN_DATACENTER_ASNS)
                        .unwrap_or_default(),
                );
            }
            if let Some(t) = from_bundle("datacenter_asns.txt") {
                match DatacenterAsns::parse_numbers(t) {
                    Ok(n) => numbers.extend(n),
                    Err(e) => problems.push(format!("rules bundle datacenter_asns.txt: {e}")),
                }
            }
            for f in &i.datacenter_asn_files {
                match read_list(f).and_then(|t| {
                    DatacenterAsns::parse_numbers(&t).map_err(|e| format!("{}: {e}", f.display()))
                }) {
                    Ok(n) => numbers.extend(n),
                    Err(e) => problems.push(format!("ivt.datacenter_asn_files: {e}")),
                }
            }
            Some(std::sync::Arc::new(DatacenterAsns { db, numbers }))
        });
        if cfg.geo.asn_db.is_none()
            && (!i.datacenter_asns.is_empty() || !i.datacenter_asn_files.is_empty())
        {
            problems.push(
                "ivt.datacenter_asns: AS numbers need geo.asn_db (a GeoLite2-ASN-format \
                 .mmdb) to look addresses up in"
                    .to_string(),
            );
        }
        let country = cfg.geo.country_db.as_ref().and_then(|p| {
            crate::geo::CountryDb::open(p)
                .map_err(|e| problems.push(format!("geo.country_db: {e}")))
                .ok()
        });

        let bots = BotLists {
            patterns,
            heuristics,
            scanners,
            devices,
            iab_exclude,
            iab_include,
            quick: None,
        }
        .with_quick_pass();
        let mut all = Problems::default();
        std::mem::swap(&mut all, &mut typed);
        for p in problems {
            // Each list's reader names the key, the file and the line itself.
            all.push("", p);
        }
        let (Some(click), Some(actions)) = (click, actions) else {
            return Err(all);
        };
        all.or(Policy {
            generation: next_generation(),
            bundle_version: bundle.as_ref().map_or(0, |b| b.version),
            bundle_refused,
            country,
            click,
            ivt: Classifier {
                bots,
                bot_ips,
                internal,
                datacenter,
                asns,
                publishers,
                header_consistency: i.header_consistency,
                actions,
            },
        })
    }
}

/// The rules bundle the edge keeps, verified and loadable, when `rules` is
/// configured. A problem of the `rules` section is the config's; a kept
/// bundle that does not verify or load is `Err`: left out, never a
/// reason to refuse to start (the poller replaces it with the next good
/// one), and never kept by the poller in the first place.
fn rules_bundle(
    cfg: &Config,
    problems: &mut Vec<String>,
) -> Result<Option<crate::bundle::Bundle>, BundleLeftOut> {
    let r = &cfg.rules;
    let Some(url) = r.url.as_ref() else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!(
            "rules.url: {url:?} is not an http:// or https:// URL"
        ));
    }
    if r.poll_seconds == 0 {
        problems.push("rules.poll_seconds: must be at least 1 (default 60)".into());
    }
    let Some(pk) = &r.public_key else {
        problems.push(
            "rules.public_key: needed with rules.url (the key `clickedge rules keygen` printed)"
                .into(),
        );
        return Ok(None);
    };
    let key = match crate::bundle::parse_public_key(pk) {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!("rules.public_key: {e}"));
            return Ok(None);
        }
    };
    let kept = crate::bundle::load_kept(&cfg.rules_bundle_path(), &key)
        .map_err(|e| BundleLeftOut::Unverified(e.to_string()))?;
    if let Some(b) = &kept {
        b.check().map_err(|lists| BundleLeftOut::Unloadable {
            version: b.version,
            lists,
        })?;
    }
    Ok(kept)
}

/// A number no other policy of this process has had.
pub fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn show(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn ip_set(
    kind: &str,
    inline: &[String],
    files: &[std::path::PathBuf],
    problems: &mut Vec<String>,
) -> IpSet {
    let mut set = IpSet::default();
    for entry in inline {
        if let Err(e) = set.add_entry(entry) {
            problems.push(format!("ivt.{kind}_ips: {e}"));
        }
    }
    for f in files {
        if let Err(e) = set.extend_from_file(f) {
            problems.push(format!("ivt.{kind}_ip_files: {e}"));
        }
    }
    set
}
