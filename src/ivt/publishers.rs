//! The publishers the strike ladder holds or suspends (docs/contract.md §7),
//! as the edge reads them: `ivt.publisher_status_file`, written by
//! `clickedge strikes export`, reloaded with the rest of the policy.
//!
//! One publisher a line, a tab, its status (`hold` or `suspended`); blank
//! lines and lines starting with `#` are skipped. A publisher not listed is
//! in good standing.

use super::list_file::{self, ListFileError};
use crate::config::Problems;
use std::collections::HashMap;
use std::path::Path;

/// Why a publisher status list does not load: the line, and what is wrong
/// with it.
#[derive(Debug, thiserror::Error)]
pub enum PublisherListError {
    #[error("line {line}: write PUBLISHER, a tab, then hold or suspended")]
    NoTab { line: usize },
    #[error("line {line}: status {status:?}: use hold or suspended")]
    Status { line: usize, status: String },
    #[error("line {line}: no publisher before the tab")]
    NoPublisher { line: usize },
    #[error("line {line}: {publisher:?} is not a publisher id (1 to 128 of A-Z a-z 0-9 . _ ~ -)")]
    NotAnId { line: usize, publisher: String },
}

/// A publisher's standing, as far as the edge cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherStatus {
    Hold,
    Suspended,
}

impl PublisherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PublisherStatus::Hold => "hold",
            PublisherStatus::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PublisherStatuses(HashMap<String, PublisherStatus>);

impl PublisherStatuses {
    /// `ivt.publisher_status_file`, when configured, merged with the rules
    /// bundle's `publishers.tsv`.
    pub fn from_config(
        file: Option<&Path>,
        bundle: Option<&str>,
    ) -> Result<PublisherStatuses, Problems> {
        let mut p = Problems::default();
        let mut statuses = match file.map(PublisherStatuses::read) {
            Some(Err(e)) => {
                p.push("ivt.publisher_status_file", e.to_string());
                PublisherStatuses::default()
            }
            Some(Ok(s)) => s,
            None => PublisherStatuses::default(),
        };
        if let Some(text) = bundle {
            match PublisherStatuses::parse(text) {
                Ok(s) => statuses.merge(s),
                Err(e) => p.push("", format!("rules bundle publishers.tsv: {e}")),
            }
        }
        p.or(statuses)
    }

    /// Parses the file's text; `Err` names the first bad line.
    pub fn parse(text: &str) -> Result<PublisherStatuses, PublisherListError> {
        let mut map = HashMap::new();
        // A byte-order mark an editor put first is not part of a name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (publisher, status) = line
                .split_once('\t')
                .ok_or(PublisherListError::NoTab { line: n })?;
            let status = match status.trim() {
                "hold" => PublisherStatus::Hold,
                "suspended" => PublisherStatus::Suspended,
                other => {
                    return Err(PublisherListError::Status {
                        line: n,
                        status: other.to_string(),
                    })
                }
            };
            // Spaces around a name are not part of it; a name the click URL
            // could never carry would never match, so it is refused.
            let publisher = publisher.trim();
            if publisher.is_empty() {
                return Err(PublisherListError::NoPublisher { line: n });
            }
            if !crate::click::is_id(publisher, 128) {
                return Err(PublisherListError::NotAnId {
                    line: n,
                    publisher: publisher.to_string(),
                });
            }
            map.insert(publisher.to_string(), status);
        }
        Ok(PublisherStatuses(map))
    }

    /// Reads and parses a file; the error names the file.
    pub fn read(path: &Path) -> Result<PublisherStatuses, ListFileError<PublisherListError>> {
        list_file::load(path, PublisherStatuses::parse)
    }

    /// Adds another list's entries (the rules bundle's, beside the local
    /// file); where both name a publisher, suspended wins over hold.
    pub fn merge(&mut self, other: PublisherStatuses) {
        for (p, s) in other.0 {
            let e = self.0.entry(p).or_insert(s);
            if s == PublisherStatus::Suspended {
                *e = s;
            }
        }
    }

    pub fn get(&self, publisher: &str) -> Option<PublisherStatus> {
        self.0.get(publisher).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The file's text, sorted by publisher.
    pub fn to_text<'a>(entries: impl IntoIterator<Item = (&'a str, PublisherStatus)>) -> String {
        let mut v: Vec<_> = entries.into_iter().collect();
        v.sort();
        let mut out = String::from(
            "# clickedge publisher statuses (strikes export): PUBLISHER<TAB>hold|suspended\n",
        );
        for (p, s) in v {
            out.push_str(p);
            out.push('\t');
            out.push_str(s.as_str());
            out.push('\n');
        }
        out
    }
}

impl PartialOrd for PublisherStatus {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublisherStatus {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_could_never_match_is_refused_and_spaces_and_a_bom_are_not_part_of_it() {
        let p = PublisherStatuses::parse("\u{feff}pub-a \tsuspended\n pub-b\thold\n").unwrap();
        assert_eq!(p.get("pub-a"), Some(PublisherStatus::Suspended));
        assert_eq!(p.get("pub-b"), Some(PublisherStatus::Hold));
        let e = PublisherStatuses::parse("pub a\thold\n").unwrap_err();
        assert!(
            matches!(&e, PublisherListError::NotAnId { line: 1, publisher } if publisher == "pub a"),
            "{e}"
        );
    }

    #[test]
    fn parses_what_export_writes_and_names_bad_lines() {
        let text = PublisherStatuses::to_text([
            ("pub-b", PublisherStatus::Suspended),
            ("pub-a", PublisherStatus::Hold),
        ]);
        let s = PublisherStatuses::parse(&text).unwrap();
        assert_eq!(s.get("pub-a"), Some(PublisherStatus::Hold));
        assert_eq!(s.get("pub-b"), Some(PublisherStatus::Suspended));
        assert_eq!(s.get("pub-c"), None);
        assert_eq!(s.len(), 2);
        let e = PublisherStatuses::parse("# x\npub-a hold\n").unwrap_err();
        assert!(matches!(e, PublisherListError::NoTab { line: 2 }), "{e}");
        let e = PublisherStatuses::parse("pub-a\tbanned\n").unwrap_err();
        assert!(
            matches!(&e, PublisherListError::Status { line: 1, status } if status == "banned"),
            "{e}"
        );
    }
}
