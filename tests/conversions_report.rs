//! Conversions beside the clicks (docs/contract.md §9): attributed in
//! `clickedge report` the same from the data dir and from ClickHouse,
//! exported to the ad platforms only as allowed, and each once.
//!
//! The clicks and conversions are written as the edge writes them: sealed
//! records in spool segments under the data dir, and the same rows
//! inserted into ClickHouse, so both sources hold the same data.

mod common;
use common::clickhouse::{sql_statements, ClickHouse};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn clickedge(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (ok, out, err) = clickedge(args);
    assert!(ok, "clickedge {args:?} failed: {err}{out}");
    out
}

/// A click as the edge writes it.
struct Click<'a> {
    ts: &'a str,
    id: &'a str,
    campaign: &'a str,
    ip: &'a str,
    verdict: &'a str,
    reason: &'a str,
    /// (platform click-id parameter, its value)
    platform: Option<(&'a str, &'a str)>,
    /// None: written before the field existed.
    data_use: Option<&'a str>,
}

impl<'a> Click<'a> {
    fn valid(ts: &'a str, id: &'a str) -> Click<'a> {
        Click {
            ts,
            id,
            campaign: "shop",
            ip: "192.0.2.0",
            verdict: "valid",
            reason: "",
            platform: None,
            data_use: Some("standard"),
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "ts": self.ts, "click_id": self.id, "campaign": self.campaign,
            "impression": self.id, "publisher": "p1", "landing_host": "a.example",
            "verdict": self.verdict, "reason": self.reason, "action": "redirected",
            "method": "GET", "ip": self.ip, "user_agent": "Mozilla/5.0",
            "device": "desktop", "country": "", "referrer_host": "", "edge": "e1",
        });
        if let Some((param, id)) = self.platform {
            v["platform_click_param"] = param.into();
            v["platform_click_id"] = id.into();
        }
        if let Some(d) = self.data_use {
            v["data_use"] = d.into();
        }
        v
    }
}

/// A conversion record as the edge writes it; `key` names it (its
/// `conversion_id`), `edge` and `ts` say which edge received it when.
fn conversion(key: &str, click_id: &str, click_ts: &str, time: &str, value: &str) -> Value {
    json!({
        "ts": time, "conversion_id": format!("00000000-0000-8000-8000-{key:0>12}"),
        "click_id": click_id, "click_ts": click_ts, "event": "purchase",
        "category": "purchase", "time": time, "value": value,
        "currency": if value.is_empty() { "" } else { "EUR" },
        "txn_hash": format!("{key:0>32}"), "consent": "granted", "source": "shop", "edge": "e1",
    })
}

/// Writes sealed records into `<data>/<stream>/<name>`.
fn write_segment(data: &Path, stream: &str, name: &str, records: &[Value]) {
    let dir = data.join(stream);
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Vec::new();
    for r in records {
        let mut line = serde_json::to_vec(r).unwrap();
        clickedge::internals::spool::record::seal(&mut line);
        out.extend(line);
    }
    std::fs::write(dir.join(name), out).unwrap();
}

/// Inserts rows into a table of the test's ClickHouse.
fn insert(ch: &ClickHouse, table: &str, rows: &[Value]) {
    let body: Vec<String> = rows.iter().map(Value::to_string).collect();
    ch.query(&format!(
        "INSERT INTO clickedge.{table} FORMAT JSONEachRow\n{}\n",
        body.join("\n")
    ));
}

/// A ClickHouse with the conversions table, a data dir, and a config
/// naming both: the same data goes to each.
struct Both {
    ch: ClickHouse,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Both {
    fn new() -> Both {
        let ch = ClickHouse::start();
        for s in sql_statements("conf/clickhouse/conversions.sql") {
            ch.query(&s);
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("clickedge.yaml");
        let extra = "conversions:\n  window_days: 30\n  actions:\n    \
                     purchase: {category: purchase, label: \"Online purchase, web\"}\n    \
                     signup: {category: signup}\n";
        std::fs::write(
            &config,
            config_text(free_port(), free_port(), &dir.path().join("data"), extra),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("data/clicks")).unwrap();
        Both { ch, dir, config }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn data_arg(&self) -> String {
        self.data().display().to_string()
    }

    fn clicks(&self, name: &str, clicks: &[Click<'_>]) {
        let rows: Vec<Value> = clicks.iter().map(Click::json).collect();
        write_segment(&self.data(), "clicks", name, &rows);
        insert(&self.ch, "clicks", &rows);
    }

    /// Conversions written to a segment of the data dir and inserted.
    fn conversions(&self, name: &str, rows: &[Value]) {
        write_segment(&self.data(), "conversions", name, rows);
        insert(&self.ch, "clickedge_conversions", rows);
    }

    /// The report in JSON from the data dir and from ClickHouse, which
    /// must be equal.
    fn report(&self, extra: &[&str]) -> Value {
        let config = self.config.display().to_string();
        let run = |src: &[&str]| -> Value {
            let mut a = vec!["report", "--format", "json", "--config", &config];
            a.extend_from_slice(src);
            a.extend_from_slice(extra);
            serde_json::from_str(&ok(&a)).unwrap()
        };
        let sink = self.ch.sink_url();
        let local = run(&["--data-dir", &self.data_arg()]);
        let central = run(&["--sink", &sink]);
        assert_eq!(local, central, "the data dir and ClickHouse differ");
        local
    }
}

const T0: &str = "2026-11-02T10:00:00.000Z";

#[test]
fn conversions_are_attributed_the_same_from_both_sources() {
    let b = Both::new();
    let mut clicks = vec![
        Click::valid(T0, "c1"),
        Click::valid("2026-11-02T11:00:00.000Z", "c2"),
        Click {
            verdict: "invalid",
            reason: "known_bot",
            ..Click::valid("2026-11-02T12:00:00.000Z", "c3")
        },
        Click {
            verdict: "test",
            reason: "test_click",
            ..Click::valid("2026-11-02T13:00:00.000Z", "c4")
        },
    ];
    // A flood: 40 clicks from one address on one campaign in 40 seconds;
    // rescore invalidates the ten past the limit (30).
    let flood: Vec<(String, String)> = (0..40)
        .map(|i| (format!("2026-11-03T10:00:{i:02}.000Z"), format!("f{i:02}")))
        .collect();
    for (ts, id) in &flood {
        clicks.push(Click {
            campaign: "flood",
            ip: "198.51.100.0",
            ..Click::valid(ts, id)
        });
    }
    b.clicks("1000000000000-1-0001.ndjson", &clicks);
    let (f0, f39) = (&flood[0], &flood[39]);
    let first = vec![
        conversion("1", "c1", T0, "2026-11-02T10:30:00.000Z", "0.1"),
        conversion("2", "c1", T0, "2026-11-02T11:30:00.000Z", "0.2"),
        // 31 days after its click: outside the window.
        conversion(
            "3",
            "c2",
            "2026-11-02T11:00:00.000Z",
            "2026-12-03T12:00:00.000Z",
            "5",
        ),
        conversion(
            "4",
            "c3",
            "2026-11-02T12:00:00.000Z",
            "2026-11-02T12:30:00.000Z",
            "7",
        ),
        conversion(
            "5",
            "c4",
            "2026-11-02T13:00:00.000Z",
            "2026-11-02T13:30:00.000Z",
            "9",
        ),
        conversion("6", &f0.1, &f0.0, "2026-11-03T11:00:00.000Z", ""),
        conversion("7", &f39.1, &f39.0, "2026-11-03T11:00:00.000Z", "1"),
        // Its click is not stored.
        conversion(
            "8",
            "c9",
            "2026-11-02T10:00:00.000Z",
            "2026-11-02T10:30:00.000Z",
            "1",
        ),
    ];
    b.conversions("1000000000000-1-0001.ndjson", &first);
    // The first conversion again, from another edge: counted once.
    let mut again = first[0].clone();
    again["edge"] = "e2".into();
    again["ts"] = "2026-11-02T10:30:01.000Z".into();
    b.conversions("1000000000001-2-0001.ndjson", &[again]);

    let t = b.report(&[]);
    let t = &t[0];
    assert_eq!(t["conversions"], 4, "{t}");
    assert_eq!(t["conversion_value"], json!({"EUR": "1.3"}), "{t}");
    assert_eq!(t["conversions_on_invalid_clicks"], 1, "{t}");
    assert_eq!(t["conversions_on_test_clicks"], 1, "{t}");
    assert_eq!(t["unattributed_conversions"], 2, "{t}");
    assert_eq!(t["valid_clicks"], 42, "{t}");
    let rate = t["conversion_rate"].as_f64().unwrap();
    assert!((rate - 4.0 / 42.0).abs() < 1e-12, "{t}");

    // Rescore invalidates the flood's last ten: the conversion on f39
    // moves to the invalid clicks', the one on f00 stays attributed.
    let config = b.config.display().to_string();
    let sink = b.ch.sink_url();
    let data = b.data_arg();
    for src in [["--data-dir", &data], ["--sink", &sink]] {
        let out = ok(&[
            &["rescore", "--config", &config][..],
            &src,
            &["--from", "2026-11-01", "--to", "2026-11-05"],
        ]
        .concat());
        assert!(out.contains("10 new adjustments"), "{out}");
    }
    let t = b.report(&[]);
    let t = &t[0];
    assert_eq!(t["conversions"], 3, "{t}");
    assert_eq!(
        t["conversion_value"],
        json!({"EUR": "0.3"}),
        "0.1 + 0.2 exactly: {t}"
    );
    assert_eq!(t["conversions_on_invalid_clicks"], 2, "{t}");
    assert_eq!(t["unattributed_conversions"], 2, "{t}");

    // By campaign: the groups are the click's.
    let by = b.report(&["--by", "campaign"]);
    assert_eq!(by[0]["campaign"], "flood");
    assert_eq!(by[0]["conversions"], 1);
    assert_eq!(by[0]["conversions_on_invalid_clicks"], 1);
    assert_eq!(by[0]["conversion_value"], json!({}));
    assert_eq!(by[1]["campaign"], "shop");
    assert_eq!(by[1]["conversions"], 2);
    assert_eq!(by[1]["conversion_value"], json!({"EUR": "0.3"}));
    assert_eq!(by[1]["unattributed_conversions"], 0);
    // The unattributed ones have no click and so no group: a row of
    // their own.
    assert_eq!(by[2]["campaign"], Value::Null);
    assert_eq!(by[2]["unattributed_conversions"], 2);
    assert_eq!(by.as_array().unwrap().len(), 3);

    // By reason: what each reason's clicks converted at, beside the
    // valid clicks' rate.
    let r = b.report(&["--by", "reason"]);
    let row = |reason: &str| {
        r.as_array()
            .unwrap()
            .iter()
            .find(|x| x["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} row: {r}"))
            .clone()
    };
    let valid = row("");
    assert_eq!(valid["valid_clicks"], 32);
    assert_eq!(valid["conversions"], 3);
    let bot = row("known_bot");
    assert_eq!(bot["conversions_on_invalid_clicks"], 1);
    assert_eq!(bot["invalid_conversion_rate"], 1.0);
    let flood = row("click_flood");
    assert_eq!(flood["invalid_clicks"], 10);
    assert_eq!(flood["conversions_on_invalid_clicks"], 1);
    assert_eq!(flood["invalid_conversion_rate"], 0.1);

    // A range that holds the clicks of one day only.
    let day = b.report(&["--from", "2026-11-03", "--to", "2026-11-04"]);
    assert_eq!(day[0]["conversions"], 1, "{day}");
    assert_eq!(day[0]["unattributed_conversions"], 0, "{day}");
}

/// `conversions export` from one source into `out`; (succeeded, stdout,
/// stderr).
fn export(b: &Both, src: &[&str], platform: &str, out: &Path) -> (bool, String, String) {
    let config = b.config.display().to_string();
    let out = out.display().to_string();
    let mut a = vec![
        "conversions",
        "export",
        "--platform",
        platform,
        "--config",
        &config,
        "--out",
        &out,
    ];
    a.extend_from_slice(src);
    clickedge(&a)
}

#[test]
fn export_holds_only_what_may_go_to_each_platform_and_each_once() {
    let b = Both::new();
    let click = |ts, id, platform, data_use| Click {
        platform,
        data_use,
        ..Click::valid(ts, id)
    };
    let std = Some("standard");
    let clicks = [
        click(T0, "g1", Some(("gclid", "G1")), std),
        click(T0, "g2", Some(("gclid", "G2")), std),
        click(T0, "g3", Some(("gclid", "G3")), Some("opted_out")),
        click(T0, "g4", Some(("gclid", "G4")), Some("child_directed")),
        // Written before data_use existed: nothing is assumed.
        click(T0, "g5", Some(("gclid", "G5")), None),
        click(T0, "g6", Some(("gclid", "G6")), std),
        click(T0, "m1", Some(("msclkid", "M1")), std),
        click(T0, "n1", None, std),
        Click {
            verdict: "invalid",
            reason: "known_bot",
            ..click(T0, "b1", Some(("gclid", "B1")), std)
        },
    ];
    b.clicks("1000000000000-1-0001.ndjson", &clicks);
    let at = |m: u32| format!("2026-11-02T10:{m:02}:00.000Z");
    let mut convs = vec![
        conversion("1", "g1", T0, &at(30), "0.1"),
        conversion("2", "g2", T0, &at(31), "12.5"),
        conversion("3", "g3", T0, &at(32), "1"),
        conversion("4", "g4", T0, &at(33), "1"),
        conversion("5", "g5", T0, &at(34), "1"),
        conversion("6", "g6", T0, &at(35), "1"),
        conversion("7", "m1", T0, &at(36), "3"),
        conversion("8", "n1", T0, &at(37), "1"),
        conversion("9", "b1", T0, &at(38), "1"),
        conversion("10", "zz", T0, &at(39), "1"),
    ];
    convs[1]["event"] = "signup".into();
    convs[1]["consent"] = "unspecified".into();
    convs[5]["consent"] = "denied".into();
    b.conversions("1000000000000-1-0001.ndjson", &convs);
    // g1's conversion again, from another edge.
    let mut again = convs[0].clone();
    again["edge"] = "e2".into();
    b.conversions("1000000000001-2-0001.ndjson", &[again]);

    let out_dir = tempfile::tempdir().unwrap();
    let data = b.data_arg();
    let sink = b.ch.sink_url();
    let sources: [(&str, [&str; 2]); 2] =
        [("local", ["--data-dir", &data]), ("ch", ["--sink", &sink])];
    let want = "Parameters:TimeZone=+0000\n\
                Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n\
                G1,\"Online purchase, web\",2026-11-02 10:30:00,0.1,EUR\n\
                G2,signup,2026-11-02 10:31:00,12.5,EUR\n";
    for (name, src) in &sources {
        let out = out_dir.path().join(format!("{name}-google-1.csv"));
        let (ok, stdout, stderr) = export(&b, src, "google", &out);
        assert!(ok, "{name}: {stderr}");
        assert!(
            stdout.contains(
                "2 conversions written for google; withheld: 2 not attributed, \
                 2 without a gclid, 3 by data_use, 1 by consent, 0 already exported"
            ),
            "{name}: {stdout}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want, "{name}");
        // The same file is never replaced: it may not be uploaded yet.
        let (ok, _, stderr) = export(&b, src, "google", &out);
        assert!(!ok && stderr.contains("exists"), "{name}: {stderr}");
        let ms = out_dir.path().join(format!("{name}-microsoft-1.csv"));
        let (ok, stdout, stderr) = export(&b, src, "microsoft", &ms);
        assert!(ok, "{name}: {stderr}");
        assert!(
            stdout.contains("1 conversions written for microsoft"),
            "{stdout}"
        );
        assert_eq!(
            std::fs::read_to_string(&ms).unwrap(),
            "Parameters:TimeZone=+0000\n\
             Microsoft Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n\
             M1,\"Online purchase, web\",2026-11-02 10:36:00,3,EUR\n",
            "{name}"
        );
    }

    // A new conversion: the next export holds it alone.
    let new = conversion("11", "g1", T0, "2026-11-02T12:00:00.000Z", "");
    b.conversions("1000000000002-1-0001.ndjson", &[new]);
    for (name, src) in &sources {
        let out = out_dir.path().join(format!("{name}-google-2.csv"));
        let (ok, stdout, stderr) = export(&b, src, "google", &out);
        assert!(ok, "{name}: {stderr}");
        assert!(
            stdout.contains("1 conversions written") && stdout.contains("2 already exported"),
            "{name}: {stdout}"
        );
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            text.lines().skip(2).collect::<Vec<_>>(),
            ["G1,\"Online purchase, web\",2026-11-02 12:00:00,,"],
            "{name}"
        );
        // And a third, nothing: every conversion went once.
        let out = out_dir.path().join(format!("{name}-google-3.csv"));
        let (ok, stdout, _) = export(&b, src, "google", &out);
        assert!(ok && stdout.contains(": 0 conversions written"), "{stdout}");
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    }
    // The ledgers: one per platform in the data dir, a table in ClickHouse.
    let ledger = std::fs::read_to_string(b.data().join("exported-google.ndjson")).unwrap();
    assert_eq!(ledger.lines().count(), 3);
    assert_eq!(
        b.ch.query(
            "SELECT platform, count() FROM clickedge.clickedge_exported \
             GROUP BY platform ORDER BY platform FORMAT TSV"
        ),
        "google\t3\nmicrosoft\t1\n"
    );
}

#[test]
fn a_time_range_exports_the_conversions_of_that_range_only() {
    let b = Both::new();
    b.clicks(
        "1000000000000-1-0001.ndjson",
        &[Click {
            platform: Some(("gclid", "G1")),
            ..Click::valid(T0, "g1")
        }],
    );
    b.conversions(
        "1000000000000-1-0001.ndjson",
        &[
            conversion("1", "g1", T0, "2026-11-02T10:30:00.000Z", "1"),
            conversion("2", "g1", T0, "2026-11-04T10:30:00.000Z", "2"),
        ],
    );
    let out_dir = tempfile::tempdir().unwrap();
    let data = b.data_arg();
    let sink = b.ch.sink_url();
    for (name, src) in [("local", ["--data-dir", &data]), ("ch", ["--sink", &sink])] {
        let out = out_dir.path().join(format!("{name}.csv"));
        let config = b.config.display().to_string();
        let o = out.display().to_string();
        let a = [
            &[
                "conversions",
                "export",
                "--platform",
                "google",
                "--config",
                &config,
            ][..],
            &src,
            &["--from", "2026-11-03", "--out", &o],
        ]
        .concat();
        let stdout = ok(&a);
        assert!(stdout.contains("1 conversions written"), "{stdout}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.ends_with("G1,\"Online purchase, web\",2026-11-04 10:30:00,2,EUR\n"),
            "{text}"
        );
        assert!(!text.contains("2026-11-02"), "{text}");
    }
}

#[test]
fn retention_empties_an_old_conversions_txn_hash_and_the_numbers_stay() {
    let b = Both::new();
    let old_click = "2025-01-02T10:00:00.000Z";
    b.clicks(
        "1000000000000-1-0001.ndjson",
        &[Click::valid(old_click, "o1"), Click::valid(T0, "y1")],
    );
    let young_ts = "2099-01-01T00:00:00.000Z";
    let mut young = conversion("2", "y1", T0, "2026-11-02T10:30:00.000Z", "2");
    // Received (ts) in the future: never old enough.
    young["ts"] = young_ts.into();
    b.conversions(
        "1000000000000-1-0001.ndjson",
        &[
            conversion("1", "o1", old_click, "2025-01-02T10:30:00.000Z", "1"),
            young,
        ],
    );
    let before = b.report(&[]);
    assert_eq!(before[0]["conversions"], 2);
    let config = b.config.display().to_string();
    let data = b.data_arg();
    let sink = b.ch.sink_url();
    ok(&["retention", "--config", &config, "--data-dir", &data]);
    ok(&["retention", "--config", &config, "--sink", &sink]);

    let seg =
        std::fs::read_to_string(b.data().join("conversions/1000000000000-1-0001.ndjson")).unwrap();
    let hashes: Vec<String> = seg
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["txn_hash"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(hashes, ["".to_string(), format!("{:0>32}", "2")], "{seg}");
    assert_eq!(
        b.ch.query(
            "SELECT conversion_id, txn_hash FROM clickedge.clickedge_conversions \
             ORDER BY conversion_id FORMAT TSV"
        ),
        format!(
            "00000000-0000-8000-8000-000000000001\t\n\
             00000000-0000-8000-8000-000000000002\t{:0>32}\n",
            "2"
        )
    );
    // The record still reads back whole (its checksum redone), and the
    // numbers are the same.
    assert_eq!(b.report(&[]), before);
}

/// Under parallel tracking the landing page sees only the platform's click
/// id: a conversion keyed by it is its click's, attributed and exported
/// like one keyed by the edge's id, from both sources.
#[test]
fn a_conversion_keyed_by_the_platforms_click_id_is_its_clicks() {
    let b = Both::new();
    let gclid = "EAIaIQobChMIparallel-tracking_1";
    b.clicks(
        "1000000000000-1-0001.ndjson",
        &[
            Click {
                platform: Some(("gclid", gclid)),
                ..Click::valid(T0, "t1")
            },
            // The same gclid again a minute later: a duplicate click. The
            // conversion is the first click's, in every source.
            Click {
                platform: Some(("gclid", gclid)),
                verdict: "invalid",
                reason: "duplicate",
                ..Click::valid("2026-11-02T10:01:00.000Z", "t2")
            },
        ],
    );
    b.conversions(
        "1000000000000-1-0001.ndjson",
        &[
            conversion("1", gclid, "", "2026-11-02T11:00:00.000Z", "4.5"),
            // A platform id no stored click carried.
            conversion(
                "2",
                "EAIaIQobChMIno-such-click_22",
                "",
                "2026-11-02T11:00:00.000Z",
                "1",
            ),
        ],
    );
    let r = b.report(&[]);
    let totals = &r[0];
    assert_eq!(totals["conversions"], 1, "{r}");
    assert_eq!(totals["conversion_value"]["EUR"], "4.5", "{r}");
    assert_eq!(totals["unattributed_conversions"], 1, "{r}");
    let out_dir = tempfile::tempdir().unwrap();
    let data = b.data_arg();
    let sink = b.ch.sink_url();
    for (name, src) in [
        ("local", ["--data-dir", data.as_str()]),
        ("ch", ["--sink", sink.as_str()]),
    ] {
        let out = out_dir.path().join(format!("{name}.csv"));
        let (ok, _, stderr) = export(&b, &src, "google", &out);
        assert!(ok, "{name}: {stderr}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.ends_with(&format!(
                "{gclid},\"Online purchase, web\",2026-11-02 11:00:00,4.5,EUR\n"
            )),
            "{name}: {text}"
        );
    }
}
