//! What the after-the-fact work shares in talking to ClickHouse: a query
//! whose failure is typed, TSV (ClickHouse's text format) both ways, and
//! what an answer that cannot be read is.

use crate::ship::sinks::ClickHouse;

/// A ClickHouse query that failed, or an answer that cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClickHouseError {
    /// The query failed (the server's or the connection's message).
    #[error("{0}")]
    Query(crate::ship::sink::QueryError),
    #[error("unexpected answer from ClickHouse: {line:?}")]
    UnexpectedAnswer { line: String },
    #[error("{given:?}: {why}")]
    NotANumber {
        given: String,
        why: std::num::ParseIntError,
    },
}

/// Runs one statement; its answer, as text.
pub(super) fn query(ch: &ClickHouse, sql: &str) -> Result<String, ClickHouseError> {
    ch.query(sql).map_err(ClickHouseError::Query)
}

/// An unsigned number in an answer.
pub(super) fn number(s: &str) -> Result<u64, ClickHouseError> {
    s.parse().map_err(|why| ClickHouseError::NotANumber {
        given: s.to_string(),
        why,
    })
}

/// An answer's line that is not what was asked for.
pub(super) fn unexpected(line: &str) -> ClickHouseError {
    ClickHouseError::UnexpectedAnswer {
        line: line.to_string(),
    }
}

/// TSV's escaping of a field (ClickHouse's text format).
pub(super) fn escape_tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes ClickHouse's TSV escaping of a field.
pub(super) fn unescape_tsv(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_fields_come_back_as_they_were_written() {
        for s in [
            "plain",
            "tab\there",
            "line\nbreak",
            "back\\slash",
            "",
            "\\t literal",
        ] {
            assert_eq!(unescape_tsv(&escape_tsv(s)), s);
        }
        assert_eq!(unescape_tsv("nul\\0"), "nul\0");
    }

    #[test]
    fn an_unreadable_answer_says_what_it_was() {
        assert_eq!(
            unexpected("a\tb").to_string(),
            "unexpected answer from ClickHouse: \"a\\tb\""
        );
        assert!(matches!(
            number("x1"),
            Err(ClickHouseError::NotANumber { given, .. }) if given == "x1"
        ));
        assert_eq!(number("42").unwrap(), 42);
    }
}
