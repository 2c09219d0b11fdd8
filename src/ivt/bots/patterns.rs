//! Pattern lists: one case-insensitive regular expression a line, `#`
//! comments, in tiers (the open list's confident patterns and its
//! heuristics), compiled so that a user agent no pattern fits costs one
//! pass of one lazy DFA.

use super::BotListError;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// A list in tiers, `(known_bot, non_browser)`: the lines after a
/// `# tier: non_browser` comment, up to another `# tier:` comment, are
/// heuristics; every other line is a confident pattern. A list without tier
/// comments (an operator's own file) is all `known_bot`. Each tier keeps the
/// file's line numbers (the other tier's lines are left blank), so a
/// match's rule names the line of the file.
pub(crate) fn tiers(text: &str) -> (String, String) {
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
pub(crate) struct PatternList {
    any: Option<Regex>,
    re: Option<Regex>,
    /// The plain patterns one by one: which one matched, asked only once
    /// `re` did (a bot, and then once per agent: the decider caches it).
    set: Option<RegexSet>,
    prefilter: Option<RegexSet>,
    fancy: Vec<fancy_regex::Regex>,
    /// (source, line) of each plain pattern, then of each fancy one.
    plain_at: Vec<(u16, u32)>,
    fancy_at: Vec<(u16, u32)>,
    /// The sources' names, as the rule of a match names them.
    sources: Vec<String>,
}

impl PatternList {
    /// `sources` are (name for errors, text) pairs. Lines are patterns as
    /// they are (a leading space is part of the pattern); blank lines and
    /// lines starting with `#` are skipped.
    pub(crate) fn compile<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PatternList, BotListError> {
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
                match regex::Regex::new(p) {
                    Ok(_) => {
                        plain.push(format!("(?:{p})"));
                        plain_at.push((source, i as u32 + 1));
                    }
                    Err(plain_err) => {
                        let f = fancy_regex::RegexBuilder::new(&format!("(?i){p}"))
                            .build()
                            .map_err(|fancy| BotListError::Pattern {
                                list: name.to_string(),
                                line: i + 1,
                                pattern: p.to_string(),
                                plain: plain_err,
                                fancy: Box::new(fancy),
                            })?;
                        let r = strip_lookaround(p);
                        Regex::new(&r).map_err(|error| BotListError::Prefilter {
                            list: name.to_string(),
                            line: i + 1,
                            pattern: p.to_string(),
                            error,
                        })?;
                        relaxed.push(r);
                        fancy.push(f);
                        fancy_at.push((source, i as u32 + 1));
                    }
                }
            }
        }
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
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.plain_at.len() + self.fancy_at.len()
    }

    pub(crate) fn is_match(&self, ua: &str) -> bool {
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
    pub(crate) fn find(&self, ua: &str) -> Option<(u16, u32)> {
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
    pub(super) fn any_pattern(&self) -> Option<&str> {
        self.any.as_ref().map(Regex::as_str)
    }

    /// A source's name in rules (`open-bots`, a file's name).
    pub(crate) fn source_name(&self, source: u16) -> &str {
        self.sources
            .get(source as usize)
            .map_or("?", String::as_str)
    }
}

/// The options of every pattern automaton, on a `RegexBuilder` or a
/// `RegexSetBuilder` alike: ASCII classes (user agents are ASCII, and
/// Unicode-aware case folding and `\w` would only make the automaton
/// larger), and room for the shipped lists.
macro_rules! tuned {
    ($builder:expr) => {
        $builder
            .case_insensitive(true)
            .unicode(false)
            .size_limit(256 << 20)
            .dfa_size_limit(64 << 20)
    };
}

/// One automaton for the alternatives of `patterns` (each already a whole
/// regular expression); `None` when there are none.
pub(super) fn union<'a>(
    patterns: impl Iterator<Item = &'a str>,
) -> Result<Option<Regex>, BotListError> {
    let joined = patterns.collect::<Vec<_>>().join("|");
    if joined.is_empty() {
        return Ok(None);
    }
    tuned!(RegexBuilder::new(&joined))
        .build()
        .map(Some)
        .map_err(|error| BotListError::TooLarge { error })
}

/// A set of `patterns` with the same options as [`union`], telling which
/// match; `None` when there are none.
fn regex_set(patterns: &[String]) -> Result<Option<RegexSet>, BotListError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    tuned!(RegexSetBuilder::new(patterns))
        .build()
        .map(Some)
        .map_err(|error| BotListError::TooLarge { error })
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
pub(super) fn strip_lookaround(p: &str) -> String {
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
