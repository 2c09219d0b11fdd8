//! The IAB/ABC International Spiders & Robots List, in its published
//! format: the robot exclude list and the valid-browser include list, each
//! one Aho-Corasick automaton, ASCII case-insensitive.

use super::BotListError;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

#[derive(Clone, Debug)]
struct ExcludeEntry {
    line: u32,
    start_only: bool,
    /// Lowercase; any one found in the user agent spares it.
    exceptions: Vec<String>,
}

/// The IAB exclude (robots) list.
#[derive(Clone, Debug)]
pub(crate) struct IabExclude {
    ac: AhoCorasick,
    entries: Vec<ExcludeEntry>,
}

/// The IAB include (valid browsers) list.
#[derive(Clone, Debug)]
pub(crate) struct IabInclude {
    ac: AhoCorasick,
    start_only: Vec<bool>,
}

fn automaton(patterns: &[String]) -> Result<AhoCorasick, BotListError> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .map_err(|error| BotListError::Automaton { error })
}

fn flag(field: Option<&str>, name: &'static str, line: usize) -> Result<bool, BotListError> {
    match field.map(str::trim) {
        Some("1") => Ok(true),
        Some("0") | Some("") | None => Ok(false),
        Some(other) => Err(BotListError::Flag {
            line,
            name,
            value: other.to_string(),
        }),
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
}

impl IabExclude {
    pub(crate) fn parse(text: &str) -> Result<IabExclude, BotListError> {
        let mut patterns = Vec::new();
        let mut entries = Vec::new();
        for (n, line) in data_lines(text) {
            let f: Vec<&str> = line.split('|').collect();
            let pattern = f[0];
            if pattern.is_empty() {
                return Err(BotListError::EmptyPattern { line: n });
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
                    _ => {
                        return Err(BotListError::Impact {
                            line: n,
                            value: s.to_string(),
                        })
                    }
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

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a pattern matches and none of its exceptions does.
    pub(crate) fn matches(&self, ua: &str) -> bool {
        self.find(ua).is_some()
    }

    /// The line of the first pattern that matches with none of its
    /// exceptions.
    pub(crate) fn find(&self, ua: &str) -> Option<u32> {
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
    pub(crate) fn parse(text: &str) -> Result<IabInclude, BotListError> {
        let mut patterns = Vec::new();
        let mut start_only = Vec::new();
        for (n, line) in data_lines(text) {
            let f: Vec<&str> = line.split('|').collect();
            if f[0].is_empty() {
                return Err(BotListError::EmptyPattern { line: n });
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

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.start_only.len()
    }

    pub(crate) fn matches(&self, ua: &str) -> bool {
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
