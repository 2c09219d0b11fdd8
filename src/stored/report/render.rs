//! A report written out: a table for people, JSON or CSV for programs.
//! The columns are the same in each, group keys first.

use super::{Counts, GroupKey, ParseError, Rows};
use crate::ivt::{BackendReason, Reason};
use std::io::Write;

/// How a report is written (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    pub(crate) fn parse(s: &str) -> Result<Format, ParseError> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            o => Err(ParseError::Format {
                given: o.to_string(),
            }),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Format, ParseError> {
        Format::parse(s)
    }
}

/// The totals' columns, after the group keys.
const TOTALS: [&str; 7] = [
    "gross_clicks",
    "valid_clicks",
    "invalid_clicks",
    "test_clicks",
    "backend_invalid_clicks",
    "credit_clicks",
    "decision_rate",
];

/// Every reason's name, inline ones first, as the per-reason columns go.
fn reason_names() -> Vec<&'static str> {
    Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(BackendReason::ALL.iter().map(|r| r.as_str()))
        .collect()
}

/// A row's cells: its keys, the totals, then each reason's count.
fn values(k: &[String], c: &Counts) -> Vec<String> {
    let mut v: Vec<String> = k.to_vec();
    v.extend(
        [
            c.gross(),
            c.valid,
            c.invalid,
            c.test,
            c.backend_invalid(),
            c.credits,
        ]
        .map(|n| n.to_string()),
    );
    v.push(
        c.decision_rate()
            .map_or_else(String::new, |r| format!("{r:.4}")),
    );
    v.extend(c.by_reason.iter().chain(&c.backend).map(|n| n.to_string()));
    v
}

/// Writes the report. No `--by` gives one row of totals (zeros when empty).
pub(crate) fn write(
    out: &mut dyn Write,
    by: &[GroupKey],
    rows: &Rows,
    format: Format,
) -> std::io::Result<()> {
    let mut rows: Vec<(Vec<String>, Counts)> =
        rows.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
    if by.is_empty() && rows.is_empty() {
        rows.push((Vec::new(), Counts::default()));
    }
    let mut header: Vec<String> = by.iter().map(|k| k.name().to_string()).collect();
    header.extend(TOTALS.map(String::from));
    match format {
        Format::Json => write_json(out, by, &rows),
        Format::Csv => {
            header.extend(reason_names().iter().map(|r| format!("invalid_{r}")));
            write_csv(out, &header, &rows)
        }
        Format::Table => {
            header.extend(reason_names().iter().map(|r| r.to_string()));
            write_table(out, by.len(), &header, &rows)
        }
    }
}

fn write_json(
    out: &mut dyn Write,
    by: &[GroupKey],
    rows: &[(Vec<String>, Counts)],
) -> std::io::Result<()> {
    let reason_names = reason_names();
    let arr: Vec<serde_json::Value> = rows
        .iter()
        .map(|(k, c)| {
            let mut o = serde_json::Map::new();
            for (name, v) in by.iter().zip(k) {
                o.insert(name.name().into(), v.clone().into());
            }
            o.insert("gross_clicks".into(), c.gross().into());
            o.insert("valid_clicks".into(), c.valid.into());
            o.insert("invalid_clicks".into(), c.invalid.into());
            o.insert("test_clicks".into(), c.test.into());
            o.insert("backend_invalid_clicks".into(), c.backend_invalid().into());
            o.insert("credit_clicks".into(), c.credits.into());
            o.insert("decision_rate".into(), c.decision_rate().into());
            let reasons: serde_json::Map<String, serde_json::Value> = reason_names
                .iter()
                .zip(c.by_reason.iter().chain(&c.backend))
                .map(|(r, n)| (r.to_string(), (*n).into()))
                .collect();
            o.insert("invalid_by_reason".into(), reasons.into());
            o.into()
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &arr)?;
    writeln!(out)
}

fn write_csv(
    out: &mut dyn Write,
    header: &[String],
    rows: &[(Vec<String>, Counts)],
) -> std::io::Result<()> {
    writeln!(out, "{}", header.join(","))?;
    for (k, c) in rows {
        let v: Vec<String> = values(k, c).iter().map(|s| csv_field(s)).collect();
        writeln!(out, "{}", v.join(","))?;
    }
    Ok(())
}

/// Columns padded to their widest cell: the `keys` first ones to the
/// left, the numbers to the right.
fn write_table(
    out: &mut dyn Write,
    keys: usize,
    header: &[String],
    rows: &[(Vec<String>, Counts)],
) -> std::io::Result<()> {
    let body: Vec<Vec<String>> = rows.iter().map(|(k, c)| values(k, c)).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < keys {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header))?;
    for r in &body {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_writes_the_same_columns_keys_first() {
        let mut rows = Rows::new();
        let mut c = Counts {
            valid: 3,
            invalid: 2,
            test: 1,
            ..Counts::default()
        };
        c.by_reason[Reason::Prefetch as usize] = 2;
        rows.insert(vec!["spring, \"sale\"".into()], c);
        let by = [GroupKey::Campaign];
        let mut j = Vec::new();
        write(&mut j, &by, &rows, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v[0]["campaign"], "spring, \"sale\"");
        assert_eq!(v[0]["gross_clicks"], 5);
        assert_eq!(v[0]["invalid_by_reason"]["prefetch"], 2);
        assert_eq!(v[0]["invalid_by_reason"]["click_flood"], 0);
        assert_eq!(v[0]["decision_rate"], 1.0);
        let mut csv = Vec::new();
        write(&mut csv, &by, &rows, Format::Csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with(
            "campaign,gross_clicks,valid_clicks,invalid_clicks,test_clicks,\
             backend_invalid_clicks,credit_clicks,decision_rate,invalid_prefetch,"
        ));
        assert!(csv.contains("\"spring, \"\"sale\"\"\",5,3,2,1,0,0,1.0000,2,"));
        assert!(
            csv.trim_end().ends_with(",0,0,0,0"),
            "the back-end reasons last: {csv}"
        );
        let mut t = Vec::new();
        write(&mut t, &[], &Rows::new(), Format::Table).unwrap();
        assert!(String::from_utf8(t)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim_start()
            .starts_with('0'));
    }

    #[test]
    fn formats_are_read_by_name_and_others_refused() {
        assert_eq!(Format::parse("csv"), Ok(Format::Csv));
        assert_eq!("json".parse(), Ok(Format::Json));
        assert_eq!(
            Format::parse("xml"),
            Err(ParseError::Format {
                given: "xml".into()
            })
        );
        assert_eq!(
            Format::parse("xml").unwrap_err().to_string(),
            "--format \"xml\": use table, json or csv"
        );
    }
}
