//! The conversion-tracking policy's sensitive categories: no conversion
//! action may be built on them (docs/contract.md §9). `check` and every
//! load refuse an action whose name or label names one, from the term list
//! shipped in `conf/conversions/sensitive-terms.tsv` (compiled in, so it
//! always applies) and the operator's own files
//! (`conversions.sensitive_term_files`), which can add terms, never
//! remove them.
//!
//! A list is one term a line: `term<TAB>category<TAB>policy`, `#` starts a
//! comment. A term is matched case-insensitively as whole words of the
//! name or label, which are split at every character that is not a letter
//! or a digit and between a lower-case letter and a capital
//! (`hivTest` is `hiv test`); a term ending in `*` matches any word that
//! starts with it (`pregnan*`).

use crate::config::{Problem, Problems};
use std::path::{Path, PathBuf};

/// The shipped list, always in force.
const SHIPPED: &str = include_str!("../../conf/conversions/sensitive-terms.tsv");
const SHIPPED_NAME: &str = "conf/conversions/sensitive-terms.tsv";

/// One of the policy's nine sensitive categories.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub(crate) enum Sensitive {
    /// Alleged or actual crime.
    Crime,
    Health,
    GeneticOrBiometric,
    NegativeFinancialStatus,
    PoliticalAffiliation,
    RaceOrEthnicity,
    ReligionOrBelief,
    SexLife,
    TradeUnion,
}

impl std::fmt::Display for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s: &'static str = self.into();
        f.write_str(&s.replace('_', " "))
    }
}

/// A term and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    /// Lower-case words, one space between; a last `*` is a prefix.
    pub(crate) term: String,
    pub(crate) category: Sensitive,
    /// The policy the term comes from, as the list says.
    pub(crate) source: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Terms(Vec<Term>);

impl Terms {
    /// The shipped list and the operator's files; every bad line named by
    /// file and line.
    pub(crate) fn load(files: &[PathBuf]) -> Result<Terms, Problems> {
        let mut p = Problems::default();
        let mut all = Vec::new();
        p.take(parse(SHIPPED, Path::new(SHIPPED_NAME)).map(|t| all.extend(t)));
        for f in files {
            match std::fs::read_to_string(f) {
                Ok(text) => {
                    p.take(parse(&text, f).map(|t| all.extend(t)));
                }
                Err(e) => p.push(
                    "conversions.sensitive_term_files",
                    format!("cannot read {}: {e}", f.display()),
                ),
            }
        }
        p.or(Terms(all))
    }

    /// The first term the text names, if any.
    pub(crate) fn find(&self, text: &str) -> Option<&Term> {
        let words = words(text);
        if words.is_empty() {
            return None;
        }
        self.0.iter().find(|t| names(&words, &t.term))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

fn parse(text: &str, file: &Path) -> Result<Vec<Term>, Problems> {
    let mut p = Problems::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}:{}", file.display(), i + 1);
        let mut cols = line.split('\t').map(str::trim);
        let (Some(term), Some(category), Some(source)) = (cols.next(), cols.next(), cols.next())
        else {
            p.0.push(Problem::new(at(), "expected term<TAB>category<TAB>policy"));
            continue;
        };
        let Ok(category) = category.parse::<Sensitive>() else {
            let known: Vec<&str> = <Sensitive as strum::VariantArray>::VARIANTS
                .iter()
                .map(|c| c.into())
                .collect();
            p.0.push(Problem::new(
                at(),
                format!(
                    "{category:?} is not a sensitive category (one of {})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        let prefix = term.ends_with('*');
        let mut norm = words(term.trim_end_matches('*')).join(" ");
        if norm.is_empty() || source.is_empty() {
            p.0.push(Problem::new(
                at(),
                "a term needs letters or digits, and a policy",
            ));
            continue;
        }
        if prefix {
            norm.push('*');
        }
        out.push(Term {
            term: norm,
            category,
            source: source.to_string(),
        });
    }
    p.or(out)
}

/// The words of a name or label, lower-cased.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_lowercase();
            cur.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether the words hold the term's words in a row.
fn names(words: &[String], term: &str) -> bool {
    let (term, prefix) = match term.strip_suffix('*') {
        Some(t) => (t, true),
        None => (term, false),
    };
    let want: Vec<&str> = term.split(' ').collect();
    let last = want.len() - 1;
    words.windows(want.len()).any(|w| {
        w.iter().zip(&want).enumerate().all(|(i, (have, want))| {
            if i == last && prefix {
                have.starts_with(want)
            } else {
                have == want
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_loads_and_names_each_category() {
        let t = Terms::load(&[]).unwrap();
        assert!(t.len() >= 50, "{} terms", t.len());
        for c in <Sensitive as strum::VariantArray>::VARIANTS {
            assert!(t.0.iter().any(|x| x.category == *c), "no term for {c}");
        }
    }

    #[test]
    fn terms_match_whole_words_and_prefixes() {
        let t = parse(
            "hiv\thealth\tp\npregnan*\thealth\tp\ntrade union\ttrade_union\tp\n",
            Path::new("x"),
        )
        .unwrap();
        let t = Terms(t);
        assert_eq!(t.find("hivTest").unwrap().category, Sensitive::Health);
        assert_eq!(t.find("HIV-test").unwrap().term, "hiv");
        assert!(
            t.find("archive_download").is_none(),
            "a word inside a word is not a match"
        );
        assert!(t.find("pregnancy_quiz").is_some());
        assert!(t.find("Trade Union join").is_some());
        assert!(t.find("trade_in").is_none());
        assert!(t.find("purchase").is_none());
    }

    #[test]
    fn a_bad_line_is_named_by_file_and_line() {
        let e = parse(
            "ok\thealth\tp\nbad\tnot_a_category\tp\n",
            Path::new("terms.tsv"),
        )
        .unwrap_err();
        assert_eq!(e.0[0].key, "terms.tsv:2");
        let e = parse("lonely\n", Path::new("terms.tsv")).unwrap_err();
        assert_eq!(e.0[0].key, "terms.tsv:1");
    }
}
