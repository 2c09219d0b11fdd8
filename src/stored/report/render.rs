//! A report written out: a table for people, JSON or CSV for programs.
//! The columns are the same in each, group keys first.

use super::{Counts, GroupKey, ParseError, Report};
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

/// The conversions' columns, after the per-reason ones in a table and in
/// CSV (`conversion_value` there as `EUR 12.5; USD 3`).
const CONVERSION_COLUMNS: [&str; 7] = [
    "conversions",
    "conversion_value",
    "conversion_rate",
    "conversions_on_invalid_clicks",
    "invalid_conversion_rate",
    "conversions_on_test_clicks",
    "unattributed_conversions",
];

/// A rate as the table and CSV print it; empty for none.
fn rate(r: Option<f64>) -> String {
    r.map_or_else(String::new, |r| format!("{r:.4}"))
}

/// The values per currency as one cell: `EUR 12.5; USD 3`.
fn value_cell(c: &Counts) -> String {
    let v: Vec<String> = c
        .conversion_value
        .iter()
        .map(|(cur, a)| format!("{cur} {a}"))
        .collect();
    v.join("; ")
}

/// One row: its group keys (`None`: the unattributed conversions' row,
/// which has no click and so no group), its counts, and the unattributed
/// count it shows.
struct Line {
    keys: Option<Vec<String>>,
    counts: Counts,
    unattributed: u64,
}

/// Every reason's name, inline ones first, as the per-reason columns go.
fn reason_names() -> Vec<&'static str> {
    Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(BackendReason::ALL.iter().map(|r| r.as_str()))
        .collect()
}

/// A row's cells: its keys, the totals, each reason's count, then the
/// conversions.
fn values(n: usize, l: &Line) -> Vec<String> {
    let c = &l.counts;
    let mut v: Vec<String> = match &l.keys {
        Some(k) => k.clone(),
        None => vec!["(unattributed)".to_string(); n],
    };
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
    v.push(rate(c.decision_rate()));
    v.extend(c.by_reason.iter().chain(&c.backend).map(|n| n.to_string()));
    v.extend([
        c.conversions.to_string(),
        value_cell(c),
        rate(c.conversion_rate()),
        c.conversions_on_invalid.to_string(),
        rate(c.invalid_conversion_rate()),
        c.conversions_on_test.to_string(),
        l.unattributed.to_string(),
    ]);
    v
}

/// Writes the report. No `--by` gives one row of totals (zeros when
/// empty), which holds the unattributed conversions; with `--by`, they
/// are in a last row of their own, its keys `null` (JSON) or
/// `(unattributed)`, when there are any.
pub(crate) fn write(
    out: &mut dyn Write,
    by: &[GroupKey],
    report: &Report,
    format: Format,
) -> std::io::Result<()> {
    let mut rows: Vec<Line> = report
        .rows
        .iter()
        .map(|(k, c)| Line {
            keys: Some(k.clone()),
            counts: c.clone(),
            unattributed: 0,
        })
        .collect();
    if by.is_empty() {
        if rows.is_empty() {
            rows.push(Line {
                keys: Some(Vec::new()),
                counts: Counts::default(),
                unattributed: 0,
            });
        }
        rows[0].unattributed = report.unattributed;
    } else if report.unattributed > 0 {
        rows.push(Line {
            keys: None,
            counts: Counts::default(),
            unattributed: report.unattributed,
        });
    }
    let mut header: Vec<String> = by.iter().map(|k| k.name().to_string()).collect();
    header.extend(TOTALS.map(String::from));
    let conversions = CONVERSION_COLUMNS.map(String::from);
    match format {
        Format::Json => write_json(out, by, &rows),
        Format::Csv => {
            header.extend(reason_names().iter().map(|r| format!("invalid_{r}")));
            header.extend(conversions);
            write_csv(out, by.len(), &header, &rows)
        }
        Format::Table => {
            header.extend(reason_names().iter().map(|r| r.to_string()));
            header.extend(conversions);
            write_table(out, by.len(), &header, &rows)
        }
    }
}

fn write_json(out: &mut dyn Write, by: &[GroupKey], rows: &[Line]) -> std::io::Result<()> {
    let reason_names = reason_names();
    let arr: Vec<serde_json::Value> = rows
        .iter()
        .map(|l| {
            let c = &l.counts;
            let mut o = serde_json::Map::new();
            for (i, name) in by.iter().enumerate() {
                let v = l.keys.as_ref().map(|k| k[i].clone());
                o.insert(name.name().into(), v.into());
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
            o.insert("conversions".into(), c.conversions.into());
            let values: serde_json::Map<String, serde_json::Value> = c
                .conversion_value
                .iter()
                .map(|(cur, a)| (cur.clone(), a.to_string().into()))
                .collect();
            o.insert("conversion_value".into(), values.into());
            o.insert("conversion_rate".into(), c.conversion_rate().into());
            o.insert(
                "conversions_on_invalid_clicks".into(),
                c.conversions_on_invalid.into(),
            );
            o.insert(
                "invalid_conversion_rate".into(),
                c.invalid_conversion_rate().into(),
            );
            o.insert(
                "conversions_on_test_clicks".into(),
                c.conversions_on_test.into(),
            );
            o.insert("unattributed_conversions".into(), l.unattributed.into());
            o.into()
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &arr)?;
    writeln!(out)
}

fn write_csv(
    out: &mut dyn Write,
    keys: usize,
    header: &[String],
    rows: &[Line],
) -> std::io::Result<()> {
    writeln!(out, "{}", header.join(","))?;
    for l in rows {
        let v: Vec<String> = values(keys, l).iter().map(|s| csv_field(s)).collect();
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
    rows: &[Line],
) -> std::io::Result<()> {
    let body: Vec<Vec<String>> = rows.iter().map(|l| values(keys, l)).collect();
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

/// A CSV cell, quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
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
        let mut rows = super::super::Rows::new();
        let mut c = Counts {
            valid: 3,
            invalid: 2,
            test: 1,
            ..Counts::default()
        };
        c.by_reason[Reason::Prefetch as usize] = 2;
        c.conversions = 1;
        c.conversion_value
            .insert("EUR".into(), crate::conversion::record::Amount(300_000));
        rows.insert(vec!["spring, \"sale\"".into()], c);
        let rows = Report {
            rows,
            unattributed: 2,
        };
        let by = [GroupKey::Campaign];
        let mut j = Vec::new();
        write(&mut j, &by, &rows, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v[0]["campaign"], "spring, \"sale\"");
        assert_eq!(v[0]["gross_clicks"], 5);
        assert_eq!(v[0]["invalid_by_reason"]["prefetch"], 2);
        assert_eq!(v[0]["invalid_by_reason"]["click_flood"], 0);
        assert_eq!(v[0]["decision_rate"], 1.0);
        assert_eq!(v[0]["conversion_value"]["EUR"], "0.3");
        assert_eq!(v[0]["conversion_rate"].as_f64().unwrap(), 1.0 / 3.0);
        assert_eq!(v[0]["conversions_on_invalid_clicks"], 0);
        assert_eq!(v[0]["unattributed_conversions"], 0);
        assert_eq!(v[1]["campaign"], serde_json::Value::Null);
        assert_eq!(v[1]["unattributed_conversions"], 2);
        let mut csv = Vec::new();
        write(&mut csv, &by, &rows, Format::Csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with(
            "campaign,gross_clicks,valid_clicks,invalid_clicks,test_clicks,\
             backend_invalid_clicks,credit_clicks,decision_rate,invalid_prefetch,"
        ));
        assert!(csv.contains("\"spring, \"\"sale\"\"\",5,3,2,1,0,0,1.0000,2,"));
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .ends_with(",0,0,0,0,1,EUR 0.3,0.3333,0,0.0000,0,0"),
            "the back-end reasons, then the conversions: {csv}"
        );
        let last = csv.lines().nth(2).unwrap();
        assert!(
            last.starts_with("(unattributed),0,") && last.ends_with(",0,,,0,,0,2"),
            "{csv}"
        );
        let mut t = Vec::new();
        write(&mut t, &[], &Report::default(), Format::Table).unwrap();
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
