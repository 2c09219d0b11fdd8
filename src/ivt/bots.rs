//! Known bots and non-browsers, by User-Agent.
//!
//! Two kinds of list, either or both:
//!
//! - **Pattern lists** (the open default list shipped in `conf/bots/`, and
//!   any file of the same format): one case-insensitive regular expression
//!   a line, `#` comments. All patterns are compiled into one regex, run as
//!   a lazy DFA: one pass over the user agent whatever the number of
//!   patterns, no allocation once its cache is warm.
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

use crate::ivt::{PatternTier, Reason, Rule};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::path::Path;

/// The open default list, compiled in (see `conf/bots/README.md`), both
/// tiers (split by [`tiers`]).
pub const BUILTIN_PATTERNS: &str = include_str!("../../conf/bots/open-bots.txt");

/// clickedge's own confident patterns (`conf/bots/named-bots.txt`):
/// crawlers' product tokens, which isbot catches only with generic words.
pub const BUILTIN_NAMED: &str = include_str!("../../conf/bots/named-bots.txt");

/// Mail and link-safety scanners that say who they are
/// (`conf/bots/link-scanners.txt`): `link_scanner`, flagged.
pub const BUILTIN_SCANNERS: &str = include_str!("../../conf/bots/link-scanners.txt");

/// clickedge's own heuristics (`conf/bots/heuristics.txt`), in the
/// `non_browser` tier beside the open list's.
pub const BUILTIN_HEURISTICS: &str = include_str!("../../conf/bots/heuristics.txt");

/// Marks of a real device's browser (`conf/bots/device-markers.txt`): a
/// user agent with one is not flagged by a heuristic alone.
pub const BUILTIN_DEVICES: &str = include_str!("../../conf/bots/device-markers.txt");

/// A list in tiers, `(known_bot, non_browser)`: the lines after a
/// `# tier: non_browser` comment, up to another `# tier:` comment, are
/// heuristics; every other line is a confident pattern. A list without tier
/// comments (an operator's own file) is all `known_bot`. Each tier keeps the
/// file's line numbers (the other tier's lines are left blank), so a
/// match's rule names the line of the file.
pub fn tiers(text: &str) -> (String, String) {
    let (mut known, mut heuristic) = (String::new(), String::new());
    let mut in_heuristics = false;
    for line in text.lines() {
        if let Some(tier) = line.strip_prefix("# tier:") {
            in_heuristics = tier.trim() == "non_browser";
            known.push('\n');
            heuristic.push('\n');
            continue;
        }
        let (out, other) = if in_heuristics {
            (&mut heuristic, &mut known)
        } else {
            (&mut known, &mut heuristic)
        };
        out.push_str(line);
        out.push('\n');
        other.push('\n');
    }
    (known, heuristic)
}

/// Compiled pattern lists.
///
/// Patterns the `regex` crate takes (all but a handful) are one regex, run
/// as a lazy DFA. Patterns with look-around (a few of isbot's) are run by
/// `fancy-regex`, but only after the same pattern with its look-arounds
/// removed matched: removing a look-around only widens a pattern, so that
/// prefilter never hides a match, and the backtracking engine runs only on
/// the rare user agent that already looks like a bot.
///
/// The common case, a browser, is one DFA pass: `any` holds every plain
/// pattern and every relaxed one, and only when it matches do the narrower
/// checks run.
#[derive(Clone, Debug, Default)]
pub struct PatternList {
    any: Option<Regex>,
    re: Option<Regex>,
    /// The plain patterns one by one: which one matched, asked only once
    /// `re` did (a bot, and then once per agent: the core caches it).
    set: Option<RegexSet>,
    prefilter: Option<RegexSet>,
    fancy: Vec<fancy_regex::Regex>,
    /// (source, line) of each plain pattern, then of each fancy one.
    plain_at: Vec<(u16, u32)>,
    fancy_at: Vec<(u16, u32)>,
    /// The sources' names, as the rule of a match names them.
    sources: Vec<String>,
    count: usize,
}

impl PatternList {
    /// `sources` are (name for errors, text) pairs. Lines are patterns as
    /// they are (a leading space is part of the pattern); blank lines and
    /// lines starting with `#` are skipped.
    pub fn compile<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PatternList, String> {
        let mut plain = Vec::new();
        let mut relaxed = Vec::new();
        let mut fancy = Vec::new();
        let (mut plain_at, mut fancy_at, mut names) = (Vec::new(), Vec::new(), Vec::new());
        for (name, text) in sources {
            let source = names.len() as u16;
            names.push(rule_source_name(name));
            for (i, line) in text.lines().enumerate() {
                let p = line.trim_end_matches('\r');
                if p.trim().is_empty() || p.starts_with('#') {
                    continue;
                }
                let at = || format!("{name} line {}: {p:?}", i + 1);
                match regex::Regex::new(p) {
                    Ok(_) => {
                        plain.push(format!("(?:{p})"));
                        plain_at.push((source, i as u32 + 1));
                    }
                    Err(plain_err) => {
                        let f = fancy_regex::RegexBuilder::new(&format!("(?i){p}"))
                            .build()
                            .map_err(|e| {
                                format!("{} is not a valid pattern: {plain_err}; {e}", at())
                            })?;
                        let r = strip_lookaround(p);
                        Regex::new(&r)
                            .map_err(|e| format!("{} cannot be prefiltered: {e}", at()))?;
                        relaxed.push(r);
                        fancy.push(f);
                        fancy_at.push((source, i as u32 + 1));
                    }
                }
            }
        }
        let count = plain.len() + fancy.len();
        let union = |patterns: &[String]| union(patterns.iter().map(String::as_str));
        let re = union(&plain)?;
        let all: Vec<String> = plain
            .iter()
            .cloned()
            .chain(relaxed.iter().map(|r| format!("(?:{r})")))
            .collect();
        let any = if relaxed.is_empty() {
            re.clone()
        } else {
            union(&all)?
        };
        let prefilter = regex_set(&relaxed)?;
        let set = regex_set(&plain)?;
        Ok(PatternList {
            any,
            re,
            set,
            prefilter,
            fancy,
            plain_at,
            fancy_at,
            sources: names,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_match(&self, ua: &str) -> bool {
        let bytes = ua.as_bytes();
        if !self.any.as_ref().is_some_and(|re| re.is_match(bytes)) {
            return false;
        }
        if self.re.as_ref().is_some_and(|re| re.is_match(bytes)) {
            return true;
        }
        self.fancy_match(ua).is_some()
    }

    /// The first fancy pattern (by index) that matches, once its relaxed
    /// form did.
    fn fancy_match(&self, ua: &str) -> Option<usize> {
        let pre = self.prefilter.as_ref()?;
        pre.matches(ua.as_bytes())
            .into_iter()
            // A pattern that errors at run time (backtrack limit) counts as
            // no match: a click is never blocked on a matcher's failure.
            .find(|&i| self.fancy[i].is_match(ua).unwrap_or(false))
    }

    /// The pattern that matches, as (source, line): the first plain one,
    /// else the first look-around one.
    pub fn find(&self, ua: &str) -> Option<(u16, u32)> {
        let bytes = ua.as_bytes();
        if !self.any.as_ref().is_some_and(|re| re.is_match(bytes)) {
            return None;
        }
        if self.re.as_ref().is_some_and(|re| re.is_match(bytes)) {
            let i = self.set.as_ref()?.matches(bytes).into_iter().next()?;
            return self.plain_at.get(i).copied();
        }
        self.fancy_match(ua)
            .and_then(|i| self.fancy_at.get(i).copied())
    }

    /// The one expression that matches whenever a pattern of the list
    /// may (look-arounds relaxed), for a pass over several lists at once.
    fn any_pattern(&self) -> Option<&str> {
        self.any.as_ref().map(Regex::as_str)
    }

    /// A source's name in rules (`open-bots`, a file's name).
    pub fn source_name(&self, source: u16) -> &str {
        self.sources
            .get(source as usize)
            .map_or("?", String::as_str)
    }
}

/// One automaton for the alternatives of `patterns` (each already a whole
/// regular expression); `None` when there are none.
fn union<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<Option<Regex>, String> {
    let joined = patterns.collect::<Vec<_>>().join("|");
    if joined.is_empty() {
        return Ok(None);
    }
    // ASCII classes: user agents are ASCII, and Unicode-aware case folding
    // and \w would only make the automaton larger.
    RegexBuilder::new(&joined)
        .case_insensitive(true)
        .unicode(false)
        .size_limit(256 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .map(Some)
        .map_err(|e| format!("bot patterns do not compile together: {e}"))
}

/// A set of `patterns` with the same options as [`union`], telling which
/// match; `None` when there are none.
fn regex_set(patterns: &[String]) -> Result<Option<RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    RegexSetBuilder::new(patterns)
        .case_insensitive(true)
        .unicode(false)
        .size_limit(256 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .map(Some)
        .map_err(|e| format!("bot patterns do not compile together: {e}"))
}

/// How a list's source is named in a rule: the shipped lists by their
/// file's stem, an operator's file by its file name.
fn rule_source_name(name: &str) -> String {
    match name {
        "builtin bot list" => "open-bots".into(),
        "builtin named bots" => "named-bots".into(),
        "builtin link scanners" => "link-scanners".into(),
        "builtin heuristics" => "heuristics".into(),
        "bundle bot_patterns.txt" => "bundle/bot_patterns.txt".into(),
        "bundle link_scanners.txt" => "bundle/link_scanners.txt".into(),
        other => std::path::Path::new(other)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(other)
            .to_string(),
    }
}

/// `p` with every look-around group (`(?=`, `(?!`, `(?<=`, `(?<!`) removed.
fn strip_lookaround(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &p[i..];
        if ["(?=", "(?!", "(?<=", "(?<!"]
            .iter()
            .any(|o| rest.starts_with(o))
        {
            // Skip to the matching ')', minding escapes and classes.
            let mut depth = 0;
            let mut in_class = false;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 1,
                    b'[' if !in_class => in_class = true,
                    b']' if in_class => in_class = false,
                    b'(' if !in_class => depth += 1,
                    b')' if !in_class => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            continue;
        }
        let ch = rest.chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8();
        if ch == '\\' {
            if let Some(next) = p[i..].chars().next() {
                out.push(next);
                i += next.len_utf8();
            }
        }
    }
    out
}

#[derive(Clone, Debug)]
struct ExcludeEntry {
    line: u32,
    start_only: bool,
    /// Lowercase; any one found in the user agent spares it.
    exceptions: Vec<String>,
}

/// The IAB exclude (robots) list.
#[derive(Clone, Debug)]
pub struct IabExclude {
    ac: AhoCorasick,
    entries: Vec<ExcludeEntry>,
}

/// The IAB include (valid browsers) list.
#[derive(Clone, Debug)]
pub struct IabInclude {
    ac: AhoCorasick,
    start_only: Vec<bool>,
}

fn automaton(patterns: &[String]) -> Result<AhoCorasick, String> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .map_err(|e| format!("cannot build matcher: {e}"))
}

fn flag(field: Option<&str>, name: &str, line: usize) -> Result<bool, String> {
    match field.map(str::trim) {
        Some("1") => Ok(true),
        Some("0") | Some("") | None => Ok(false),
        Some(other) => Err(format!(
            "line {line}: {name} flag must be 0 or 1, not {other:?}"
        )),
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
}

impl IabExclude {
    pub fn parse(text: &str) -> Result<IabExclude, String> {
        let mut patterns = Vec::new();
        let mut entries = Vec::new();
        for (n, line) in data_lines(text) {
            let f: Vec<&str> = line.split('|').collect();
            let pattern = f[0];
            if pattern.is_empty() {
                return Err(format!("line {n}: empty pattern"));
            }
            let active = flag(f.get(1).copied(), "active", n)?;
            let exceptions: Vec<String> = f
                .get(2)
                .map(|e| {
                    e.split(',')
                        .map(|x| x.trim().to_ascii_lowercase())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let _redundant = flag(f.get(3).copied(), "redundant", n)?;
            let impact = match f.get(4).map(|s| s.trim()) {
                None | Some("") => 2,
                Some(s) => match s.parse::<u8>() {
                    Ok(v @ 0..=2) => v,
                    _ => return Err(format!("line {n}: impact must be 0, 1 or 2, not {s:?}")),
                },
            };
            let start_only = flag(f.get(5).copied(), "start-of-string", n)?;
            if !active || impact == 0 {
                continue;
            }
            patterns.push(pattern.to_string());
            entries.push(ExcludeEntry {
                line: n as u32,
                start_only,
                exceptions,
            });
        }
        Ok(IabExclude {
            ac: automaton(&patterns)?,
            entries,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a pattern matches and none of its exceptions does.
    pub fn matches(&self, ua: &str) -> bool {
        self.find(ua).is_some()
    }

    /// The line of the first pattern that matches with none of its
    /// exceptions.
    pub fn find(&self, ua: &str) -> Option<u32> {
        for m in self.ac.find_overlapping_iter(ua) {
            let e = &self.entries[m.pattern().as_usize()];
            if e.start_only && m.start() != 0 {
                continue;
            }
            if e.exceptions.iter().any(|x| contains_ci(ua, x)) {
                continue;
            }
            return Some(e.line);
        }
        None
    }
}

impl IabInclude {
    pub fn parse(text: &str) -> Result<IabInclude, String> {
        let mut patterns = Vec::new();
        let mut start_only = Vec::new();
        for (n, line) in data_lines(text) {
            let f: Vec<&str> = line.split('|').collect();
            if f[0].is_empty() {
                return Err(format!("line {n}: empty pattern"));
            }
            let active = flag(f.get(1).copied(), "active", n)?;
            let start = flag(f.get(2).copied(), "start-of-string", n)?;
            if active {
                patterns.push(f[0].to_string());
                start_only.push(start);
            }
        }
        Ok(IabInclude {
            ac: automaton(&patterns)?,
            start_only,
        })
    }

    pub fn len(&self) -> usize {
        self.start_only.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start_only.is_empty()
    }

    pub fn matches(&self, ua: &str) -> bool {
        self.ac
            .find_overlapping_iter(ua)
            .any(|m| !self.start_only[m.pattern().as_usize()] || m.start() == 0)
    }
}

/// ASCII case-insensitive substring test; `needle` is lowercase.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Everything that judges a user agent.
#[derive(Clone, Debug, Default)]
pub struct BotLists {
    /// Confident patterns: `known_bot`, which blocks by default.
    pub patterns: PatternList,
    /// Heuristics (the open list's `non_browser` tier): flagged, never
    /// blocked by default, since they also fit rare real devices.
    pub heuristics: PatternList,
    /// Link and mail scanners: `link_scanner`, flagged.
    pub scanners: PatternList,
    /// Marks of real devices' browsers: a user agent with one is not
    /// flagged by [`BotLists::heuristics`] (only by them).
    pub devices: PatternList,
    pub iab_exclude: Option<IabExclude>,
    pub iab_include: Option<IabInclude>,
    /// One pass over the three lists' patterns together
    /// ([`BotLists::with_quick_pass`]): most user agents are browsers that
    /// match none, and are done in one pass rather than three.
    pub quick: Option<Regex>,
}

impl BotLists {
    /// The lists with their [`BotLists::quick`] pass built. Should the
    /// lists together be too large to compile as one, they run one by one,
    /// with the same verdicts.
    pub fn with_quick_pass(mut self) -> BotLists {
        self.quick = union(
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

pub fn read_list(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Sample files in the IAB format, written for these tests (the real
    // list is licensed and never shipped).
    const EXCLUDE: &str = "\
# pattern|active|exceptions|redundant|impact|start|inactive date
bot|1|cubot,robot framework tester|0|2|0|
crawler|1||0|1|0|
Java/|1||1|2|1|
pageonly|1||0|0|0|
retiredagent|0||0|2|0|01/01/2020
spider|1|SpiderMonkeyBrowser|0|2|0|
";
    const INCLUDE: &str = "\
# pattern|active|start
Mozilla/|1|1
Opera/|1|1
oldbrowser|0|0
";

    fn lists() -> BotLists {
        BotLists {
            patterns: PatternList::default(),
            heuristics: PatternList::default(),
            scanners: PatternList::default(),
            devices: PatternList::default(),
            iab_exclude: Some(IabExclude::parse(EXCLUDE).unwrap()),
            iab_include: Some(IabInclude::parse(INCLUDE).unwrap()),
            quick: None,
        }
    }

    #[test]
    fn a_match_names_its_list_and_line() {
        // Tiers keep the file's line numbers.
        let text =
            "# head\nGooglebot\n# tier: non_browser\n^\\w+/1\\.0$\n# tier: known_bot\ncurl/\n";
        let (known, heuristic) = tiers(text);
        let l = BotLists {
            patterns: PatternList::compile([
                ("builtin bot list", known.as_str()),
                ("/etc/mine.txt", "zzz-tool\n(?<!x)zzbot\n"),
            ])
            .unwrap(),
            heuristics: PatternList::compile([("builtin bot list", heuristic.as_str())]).unwrap(),
            scanners: PatternList::compile([("builtin link scanners", BUILTIN_SCANNERS)]).unwrap(),
            ..BotLists::default()
        };
        let rule = |ua: &str| l.classify_with_rule(ua);
        let known = |source, line| Rule::Pattern {
            list: PatternTier::Known,
            source,
            line,
        };
        assert_eq!(rule("curl/8.5"), Some((Reason::KnownBot, known(0, 6))));
        assert_eq!(rule("Googlebot/2.1"), Some((Reason::KnownBot, known(0, 2))));
        assert_eq!(
            rule("my zzbot"),
            Some((Reason::KnownBot, known(1, 2))),
            "a look-around pattern"
        );
        assert_eq!(l.patterns.source_name(1), "mine.txt");
        assert_eq!(l.patterns.source_name(0), "open-bots");
        assert_eq!(
            rule("tool/1.0"),
            Some((
                Reason::NonBrowser,
                Rule::Pattern {
                    list: PatternTier::Heuristic,
                    source: 0,
                    line: 4
                }
            ))
        );
        let Some((
            Reason::LinkScanner,
            Rule::Pattern {
                list: PatternTier::Scanner,
                line,
                ..
            },
        )) = rule("Barracuda Sentinel (EE)")
        else {
            panic!("{:?}", rule("Barracuda Sentinel (EE)"));
        };
        assert_eq!(
            BUILTIN_SCANNERS.lines().nth(line as usize - 1),
            Some("Barracuda Sentinel")
        );
        assert_eq!(rule(""), Some((Reason::NonBrowser, Rule::EmptyUserAgent)));
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(rule(chrome), None);
        // The verdict is the one classify gives.
        for ua in [
            "curl/8.5",
            "tool/1.0",
            "Barracuda Sentinel (EE)",
            "",
            chrome,
        ] {
            assert_eq!(rule(ua).map(|(r, _)| r), l.classify(ua), "{ua}");
        }
    }

    #[test]
    fn dual_pass() {
        let l = lists();
        let chrome = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131 Safari/537.36";
        assert_eq!(l.classify(chrome), None);
        assert_eq!(
            l.classify("Opera/9.80 (X11; Linux x86_64) Presto/2.12"),
            None
        );
        // Fails the include list: not a browser.
        assert_eq!(l.classify("curl/8.5.0"), Some(Reason::NonBrowser));
        assert_eq!(l.classify(""), Some(Reason::NonBrowser));
        assert_eq!(l.classify("  "), Some(Reason::NonBrowser));
        // Include start-of-string: "Mozilla/" not at the start does not count.
        assert_eq!(l.classify("xx Mozilla/5.0"), Some(Reason::NonBrowser));
        // Passes include, matches exclude (case-insensitive): known bot.
        assert_eq!(
            l.classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            Some(Reason::KnownBot)
        );
        assert_eq!(l.classify("Mozilla/5.0 CRAWLER"), Some(Reason::KnownBot));
        // Both: known_bot wins (docs/contract.md §5 order).
        assert_eq!(l.classify("SomeBot/1.0"), Some(Reason::KnownBot));
    }

    #[test]
    fn exceptions_spare_a_match() {
        let l = lists();
        // "bot" matches inside "Cubot" (a phone maker), but "cubot" is its exception.
        assert_eq!(
            l.classify("Mozilla/5.0 (Linux; Android 9; CUBOT X19) Mobile"),
            None
        );
        assert_eq!(l.classify("Mozilla/5.0 SpiderMonkeyBrowser/1"), None);
        // An exception of one pattern does not spare another pattern's match.
        assert_eq!(
            l.classify("Mozilla/5.0 (CUBOT) crawler"),
            Some(Reason::KnownBot)
        );
    }

    #[test]
    fn start_of_string_patterns() {
        let l = BotLists {
            iab_include: None,
            ..lists()
        };
        assert_eq!(l.classify("Java/1.8.0_151"), Some(Reason::KnownBot));
        assert_eq!(l.classify("Mozilla/5.0 (X11) MyApp Java/17"), None);
    }

    #[test]
    fn inactive_and_page_only_patterns_are_skipped() {
        let l = BotLists {
            iab_include: None,
            ..lists()
        };
        assert_eq!(l.iab_exclude.as_ref().unwrap().len(), 4);
        assert_eq!(l.classify("Mozilla/5.0 retiredagent"), None);
        assert_eq!(l.classify("Mozilla/5.0 pageonly"), None);
        assert_eq!(l.iab_include.as_ref().map(|i| i.len()), None);
        assert_eq!(IabInclude::parse(INCLUDE).unwrap().len(), 2);
    }

    #[test]
    fn look_around_patterns_keep_their_meaning() {
        assert_eq!(strip_lookaround("(?<!lib)http"), "http");
        assert_eq!(strip_lookaround("java(?!;)"), "java");
        assert_eq!(strip_lookaround("a(?!(?:x|y))b\\(c[(?]"), "ab\\(c[(?]");
        let p = PatternList::compile([(
            "t",
            "(?<!lib)http\njava(?!;)\n(?<! cu)bots?(?:\\b|_)\n ylead",
        )])
        .unwrap();
        assert_eq!(p.len(), 4);
        assert!(p.is_match("Apache-HttpClient/4.5"));
        assert!(!p.is_match("MyApp libhttp/1.0"));
        assert!(p.is_match("Java/17"));
        assert!(!p.is_match("Mozilla/5.0 (java; x)"));
        assert!(p.is_match("SomeBot/1"));
        assert!(!p.is_match("Mozilla/5.0 (Linux; Android 9; CUBOT X19)"));
        // A leading space is part of the pattern.
        assert!(p.is_match("a ylead"));
        assert!(!p.is_match("ylead"));
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(IabExclude::parse("bot|2||0|2|0|")
            .unwrap_err()
            .contains("line 1"));
        assert!(IabExclude::parse("# c\nbot|1||0|7|0|")
            .unwrap_err()
            .contains("line 2: impact"));
        assert!(IabInclude::parse("|1|1")
            .unwrap_err()
            .contains("empty pattern"));
        let e = PatternList::compile([("extra.txt", "ok\n(unclosed\n")]).unwrap_err();
        assert!(e.contains("extra.txt line 2"), "{e}");
    }

    #[test]
    fn without_lists_only_an_empty_agent_is_flagged() {
        let l = BotLists::default();
        assert_eq!(l.classify(""), Some(Reason::NonBrowser));
        assert_eq!(l.classify("curl/8"), None);
    }

    #[test]
    fn the_builtin_list_has_two_tiers_and_heuristics_only_flag() {
        let (known, heuristic) = tiers(BUILTIN_PATTERNS);
        let l = BotLists {
            patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
                .unwrap(),
            heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
            ..BotLists::default()
        };
        assert!(l.patterns.len() > 100 && l.heuristics.len() > 50);
        // Long-tail real devices and apps the generic patterns fit: flagged.
        for person in [
            "2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)",
            "Mozilla/5.0 (Linux; Android 11; B BOT 50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36",
            "DuckDuckGo/5 CFNetwork/1335.0.3 Darwin/21.6.0",
            "NetSurf/3.10 (Linux)",
        ] {
            assert_ne!(l.classify(person), Some(Reason::KnownBot), "{person}");
        }
        assert_eq!(
            l.classify("2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)"),
            Some(Reason::NonBrowser)
        );
        // Named crawlers and tools still block.
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.5.0",
            "python-requests/2.31.0",
        ] {
            assert_eq!(l.classify(bot), Some(Reason::KnownBot), "{bot}");
        }
        // A file without tier comments is all confident.
        assert_eq!(tiers("a\nb\n"), ("a\nb\n".to_string(), "\n\n".to_string()));
    }

    #[test]
    fn the_quick_pass_never_changes_a_verdict() {
        let (known, heuristic) = tiers(BUILTIN_PATTERNS);
        let slow = BotLists {
            patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
                .unwrap(),
            heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
            scanners: PatternList::compile([("builtin link scanners", BUILTIN_SCANNERS)]).unwrap(),
            devices: PatternList::compile([("devices", BUILTIN_DEVICES)]).unwrap(),
            ..BotLists::default()
        };
        let quick = slow.clone().with_quick_pass();
        assert!(quick.quick.is_some());
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 11; B BOT 50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X) Word/14.64.0",
            "2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)",
            // Look-around patterns (isbot's `google`), matched and not.
            "Mozilla/5.0 (Linux; GoogleTV 3.2; NSZ-GS7/GX70) AppleWebKit/534.24 (KHTML, like Gecko) Chrome/11.0.696.77 Safari/534.24",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 GoogleApp/15.0",
            "curl/8.5.0",
            "",
            "   ",
        ] {
            assert_eq!(quick.classify_with_rule(ua), slow.classify_with_rule(ua), "{ua}");
            assert_eq!(quick.classify(ua), slow.classify(ua), "{ua}");
        }
    }

    #[test]
    fn a_device_marker_quiets_the_heuristics_only() {
        let (known, heuristic) = tiers(BUILTIN_PATTERNS);
        let mut l = BotLists {
            patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
                .unwrap(),
            heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
            ..BotLists::default()
        };
        let bada = "Mozilla/5.0 (SAMSUNG; SAMSUNG-GT-S8600/1.0; U; Bada/2.0; en-us) AppleWebKit/534.20 (KHTML, like Gecko) Dolfin/3.0 Mobile WVGA SMM-MMS/1.2.0 OPN-B";
        let ie = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; chromeframe/32.0.1700.107; .NET CLR 2.0.50727)";
        let googlebot_phone = "Nokia6820/2.0 (4.83) Profile/MIDP-1.0 Configuration/CLDC-1.0 (compatible; Googlebot-Mobile/2.1; +http://www.google.com/bot.html)";
        // Without the markers the heuristics flag the phone and the old IE.
        assert_eq!(l.classify(bada), Some(Reason::NonBrowser));
        assert_eq!(l.classify(ie), Some(Reason::NonBrowser));
        l.devices = PatternList::compile([("devices", BUILTIN_DEVICES)]).unwrap();
        assert_eq!(l.classify(bada), None);
        assert_eq!(l.classify_with_rule(ie), None);
        // A confident pattern still wins over a device's marks.
        assert_eq!(l.classify(googlebot_phone), Some(Reason::KnownBot));
        assert_eq!(
            l.classify("ZmEu"),
            Some(Reason::NonBrowser),
            "no marker, still flagged"
        );
    }

    #[test]
    fn builtin_list_compiles_and_catches_common_crawlers() {
        let p = PatternList::compile([("builtin", BUILTIN_PATTERNS)]).unwrap();
        assert!(p.len() > 100, "{} patterns", p.len());
        for bot in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        ] {
            assert!(p.is_match(bot), "missed {bot}");
        }
        for browser in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        ] {
            assert!(!p.is_match(browser), "flagged {browser}");
        }
    }
}
