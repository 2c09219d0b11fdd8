//! Known bots and non-browsers, by User-Agent.
//!
//! Two kinds of list, either or both:
//!
//! - **Pattern lists** (the open default list shipped in `conf/bots/`, and
//!   any file of the same format): one case-insensitive regular expression
//!   a line, `#` comments, in tiers: confident patterns (`known_bot`),
//!   heuristics (`non_browser`), link scanners (`link_scanner`), and the
//!   marks of real devices that quiet a heuristic. The plain patterns of a
//!   list are one regex, run as a lazy DFA; the few with look-around run on
//!   `fancy-regex`, and only once a widened form of them matched. A user
//!   agent that fits no pattern, the common case, costs one pass of one
//!   lazy DFA over the three lists together (the quick pass), whatever the
//!   number of patterns, and no allocation once its cache is warm. A match
//!   costs more: the lists one by one, and a regex set that names the
//!   pattern (it allocates); the decider caches the verdict per user agent.
//! - **The IAB/ABC International Spiders & Robots List**, in its published
//!   format, with the IAB's recommended dual pass: a user agent must match
//!   the valid-browser include list (else `non_browser`), then must not
//!   match the robot exclude list unless one of the matched pattern's
//!   exceptions also matches (else `known_bot`). All patterns of a list are
//!   one Aho-Corasick automaton, ASCII case-insensitive.
//!
//! Exclude-list lines: `pattern|active|exceptions|redundant|impact|start|inactive-date`
//! (exceptions comma-separated; impact 0 page impressions, 1 ad
//! impressions, 2 both; `start` 1 means the pattern must match at the
//! start of the user agent). Include-list lines: `pattern|active|start`.
//! Lines starting with `#` and blank lines are skipped. Inactive patterns
//! (active flag 0) are skipped, and so are patterns whose impact is page
//! impressions only (0): a click is an ad interaction. Patterns flagged
//! redundant under the dual pass are kept, so such a user agent is logged
//! `known_bot` (more telling) rather than `non_browser`.
//!
//! Three files: `patterns.rs` (pattern lists and their tiers), `iab.rs`
//! (the IAB lists), and this one, the joined [`BotLists`] built from
//! `ivt.bots` by [`BotLists::from_config`].

mod iab;
mod patterns;

pub(crate) use iab::{IabExclude, IabInclude};
pub(crate) use patterns::{tiers, PatternList};

use crate::config::{BotsConfig, Problems};
use crate::ivt::list_file::{self, ListFileError};
use crate::ivt::{BundleLists, PatternTier, Reason, Rule};
use regex::bytes::Regex;
use std::path::{Path, PathBuf};

/// Why a bot list does not load; each names what to fix, with the line
/// (and the list or file) where there is one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BotListError {
    /// A pattern neither regex engine takes.
    #[error("{list} line {line}: {pattern:?} is not a valid pattern: {plain}; {fancy}")]
    Pattern {
        list: String,
        line: usize,
        pattern: String,
        plain: regex::Error,
        fancy: Box<fancy_regex::Error>,
    },
    /// A look-around pattern whose widened form (look-arounds removed,
    /// the prefilter) does not compile.
    #[error("{list} line {line}: {pattern:?} cannot be prefiltered: {error}")]
    Prefilter {
        list: String,
        line: usize,
        pattern: String,
        error: regex::Error,
    },
    /// The patterns compile one by one but not as one automaton.
    #[error("bot patterns do not compile together: {error}")]
    TooLarge { error: regex::Error },
    #[error("cannot build matcher: {error}")]
    Automaton { error: aho_corasick::BuildError },
    #[error("line {line}: empty pattern")]
    EmptyPattern { line: usize },
    #[error("line {line}: {name} flag must be 0 or 1, not {value:?}")]
    Flag {
        line: usize,
        name: &'static str,
        value: String,
    },
    #[error("line {line}: impact must be 0, 1 or 2, not {value:?}")]
    Impact { line: usize, value: String },
}

/// The open default list, compiled in (see `conf/bots/README.md`), both
/// tiers (split by [`tiers`]).
pub(crate) const BUILTIN_PATTERNS: &str = include_str!("../../../conf/bots/open-bots.txt");

/// clickedge's own confident patterns (`conf/bots/named-bots.txt`):
/// crawlers' product tokens, which isbot catches only with generic words.
pub(crate) const BUILTIN_NAMED: &str = include_str!("../../../conf/bots/named-bots.txt");

/// Mail and link-safety scanners that say who they are
/// (`conf/bots/link-scanners.txt`): `link_scanner`, flagged.
pub(crate) const BUILTIN_SCANNERS: &str = include_str!("../../../conf/bots/link-scanners.txt");

/// clickedge's own heuristics (`conf/bots/heuristics.txt`), in the
/// `non_browser` tier beside the open list's.
pub(crate) const BUILTIN_HEURISTICS: &str = include_str!("../../../conf/bots/heuristics.txt");

/// Marks of a real device's browser (`conf/bots/device-markers.txt`): a
/// user agent with one is not flagged by a heuristic alone.
pub(crate) const BUILTIN_DEVICES: &str = include_str!("../../../conf/bots/device-markers.txt");

/// Everything that judges a user agent.
///
/// Built whole by [`BotLists::from_config`] and never
/// changed after: the quick pass is compiled from the pattern lists, and a
/// list changed on its own would leave it stale.
#[derive(Clone, Debug, Default)]
pub struct BotLists {
    /// Confident patterns: `known_bot`, which blocks by default.
    patterns: PatternList,
    /// Heuristics (the open list's `non_browser` tier): flagged, never
    /// blocked by default, since they also fit rare real devices.
    heuristics: PatternList,
    /// Link and mail scanners: `link_scanner`, flagged.
    scanners: PatternList,
    /// Marks of real devices' browsers: a user agent with one is not
    /// flagged by the heuristics (only by them).
    devices: PatternList,
    iab_exclude: Option<IabExclude>,
    iab_include: Option<IabInclude>,
    /// One pass over the three lists' patterns together (built by
    /// `with_quick_pass`): most user agents are browsers that match none,
    /// and are done in one pass rather than three.
    quick: Option<Regex>,
}

/// The lists and their files, named as a pattern's rule names its source.
type Sources = Vec<(String, String)>;

impl BotLists {
    /// The three pattern lists alone (no device marks, no IAB lists),
    /// with their quick pass: what a test of the classifier needs.
    #[cfg(test)]
    pub(crate) fn of_patterns(
        patterns: PatternList,
        heuristics: PatternList,
        scanners: PatternList,
    ) -> BotLists {
        let lists = BotLists {
            patterns,
            heuristics,
            scanners,
            ..BotLists::default()
        };
        lists.with_quick_pass()
    }

    /// The lists `ivt.bots` names, and the rules bundle's patterns, which
    /// block like the operator's own files. `Err` lists every list that
    /// does not load, by key, file and line.
    pub fn from_config(cfg: &BotsConfig, bundle: &BundleLists<'_>) -> Result<BotLists, Problems> {
        let mut p = Problems::default();
        // The builtin list's heuristics flag; its confident patterns and
        // every operator file block (an operator who names a bot means it).
        let mut known: Sources = Vec::new();
        let mut heuristic = String::new();
        if cfg.builtin {
            let (k, h) = tiers(BUILTIN_PATTERNS);
            known.push(("builtin bot list".into(), k));
            known.push(("builtin named bots".into(), BUILTIN_NAMED.into()));
            heuristic = h;
        }
        read_files(
            &mut known,
            "ivt.bots.pattern_files",
            &cfg.pattern_files,
            &mut p,
        );
        if let Some(t) = bundle.bot_patterns {
            known.push(("bundle bot_patterns.txt".into(), t.into()));
        }
        let patterns = compile(&known, "ivt.bots", &mut p);
        let builtin_heuristics = if cfg.builtin { BUILTIN_HEURISTICS } else { "" };
        let heuristics = compile(
            &[
                ("builtin bot list".into(), heuristic),
                ("builtin heuristics".into(), builtin_heuristics.into()),
            ],
            "ivt.bots",
            &mut p,
        );
        let devices = if cfg.builtin {
            let markers = [("builtin device markers".into(), BUILTIN_DEVICES.into())];
            compile(&markers, "ivt.bots", &mut p)
        } else {
            PatternList::default()
        };
        let mut scanners: Sources = Vec::new();
        if cfg.builtin {
            scanners.push(("builtin link scanners".into(), BUILTIN_SCANNERS.into()));
        }
        let key = "ivt.bots.link_scanner_files";
        read_files(&mut scanners, key, &cfg.link_scanner_files, &mut p);
        if let Some(t) = bundle.link_scanners {
            scanners.push(("bundle link_scanners.txt".into(), t.into()));
        }
        let scanners = compile(&scanners, key, &mut p);
        let iab_exclude = iab_list(
            "ivt.bots.iab_exclude_file",
            cfg.iab_exclude_file.as_deref(),
            IabExclude::parse,
            &mut p,
        );
        let iab_include = iab_list(
            "ivt.bots.iab_include_file",
            cfg.iab_include_file.as_deref(),
            IabInclude::parse,
            &mut p,
        );
        let lists = BotLists {
            patterns,
            heuristics,
            scanners,
            devices,
            iab_exclude,
            iab_include,
            quick: None,
        };
        p.or(lists.with_quick_pass())
    }

    /// The name of a pattern's source in rules (`open-bots`, a file's
    /// name), by the list the pattern is in.
    pub fn source_name(&self, list: PatternTier, source: u16) -> &str {
        let list = match list {
            PatternTier::Known => &self.patterns,
            PatternTier::Heuristic => &self.heuristics,
            PatternTier::Scanner => &self.scanners,
        };
        list.source_name(source)
    }

    /// The lists with their quick pass built. Should the lists together be
    /// too large to compile as one, they run one by one, with the same
    /// verdicts.
    fn with_quick_pass(mut self) -> BotLists {
        self.quick = patterns::union(
            [&self.patterns, &self.scanners, &self.heuristics]
                .into_iter()
                .filter_map(PatternList::any_pattern),
        )
        .ok()
        .flatten();
        self
    }

    /// Whether a pattern of the three lists may match (false only when the
    /// quick pass says none does).
    fn may_match(&self, ua: &str) -> bool {
        self.quick
            .as_ref()
            .is_none_or(|q| q.is_match(ua.as_bytes()))
    }

    /// `known_bot`, `non_browser`, or nothing to say. Known bots come first
    /// (docs/contract.md §5's order), so a user agent that is both is a known bot.
    pub fn classify(&self, ua: &str) -> Option<Reason> {
        let lists = self.may_match(ua);
        if lists && self.patterns.is_match(ua)
            || self.iab_exclude.as_ref().is_some_and(|x| x.matches(ua))
        {
            return Some(Reason::KnownBot);
        }
        if lists && self.scanners.is_match(ua) {
            return Some(Reason::LinkScanner);
        }
        if ua.trim().is_empty()
            || lists && self.heuristics.is_match(ua) && !self.devices.is_match(ua)
            || self.iab_include.as_ref().is_some_and(|i| !i.matches(ua))
        {
            return Some(Reason::NonBrowser);
        }
        None
    }

    /// [`BotLists::classify`] with the rule that decided it.
    pub fn classify_with_rule(&self, ua: &str) -> Option<(Reason, Rule)> {
        let lists = self.may_match(ua);
        let find = |l: &PatternList| if lists { l.find(ua) } else { None };
        if let Some((source, line)) = find(&self.patterns) {
            return Some((
                Reason::KnownBot,
                Rule::Pattern {
                    list: PatternTier::Known,
                    source,
                    line,
                },
            ));
        }
        if let Some(line) = self.iab_exclude.as_ref().and_then(|x| x.find(ua)) {
            return Some((Reason::KnownBot, Rule::IabExclude { line }));
        }
        if let Some((source, line)) = find(&self.scanners) {
            return Some((
                Reason::LinkScanner,
                Rule::Pattern {
                    list: PatternTier::Scanner,
                    source,
                    line,
                },
            ));
        }
        if ua.trim().is_empty() {
            return Some((Reason::NonBrowser, Rule::EmptyUserAgent));
        }
        if let Some((source, line)) = find(&self.heuristics).filter(|_| !self.devices.is_match(ua))
        {
            return Some((
                Reason::NonBrowser,
                Rule::Pattern {
                    list: PatternTier::Heuristic,
                    source,
                    line,
                },
            ));
        }
        if self.iab_include.as_ref().is_some_and(|i| !i.matches(ua)) {
            return Some((Reason::NonBrowser, Rule::IabInclude));
        }
        None
    }
}

/// A list file's text.
pub(crate) fn read_list(path: &Path) -> Result<String, ListFileError<BotListError>> {
    list_file::read(path)
}

/// Adds each file's text to `sources`, or a problem under `key`.
fn read_files(sources: &mut Sources, key: &str, files: &[PathBuf], p: &mut Problems) {
    for f in files {
        match read_list(f) {
            Ok(t) => sources.push((f.display().to_string(), t)),
            Err(e) => p.push(key, e.to_string()),
        }
    }
}

/// The sources compiled as one list; when they do not compile, an empty
/// list and a problem under `key`.
fn compile(sources: &[(String, String)], key: &str, p: &mut Problems) -> PatternList {
    PatternList::compile(sources.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap_or_else(
        |e| {
            p.push(key, e.to_string());
            PatternList::default()
        },
    )
}

/// An IAB list file, when configured, read and parsed; a problem under
/// `key` when it does not load.
fn iab_list<T>(
    key: &str,
    path: Option<&Path>,
    parse: fn(&str) -> Result<T, BotListError>,
    p: &mut Problems,
) -> Option<T> {
    list_file::load(path?, parse)
        .map_err(|e| p.push(key, e.to_string()))
        .ok()
}

#[cfg(test)]
mod tests;
