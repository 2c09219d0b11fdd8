//! The back end (docs/contract.md §7, docs/methodology.md): `rescore` finds
//! what single requests do not show and records adjustments beside the
//! click log; reports count them, with a decision rate, the same from the
//! local data dir and from ClickHouse; `freeze` keeps a month's numbers;
//! the strike ladder holds and suspends publishers, and the edge marks
//! their clicks after each `strikes export`.

mod common;
use common::clickhouse::ClickHouse;
use common::*;
use serde_json::Value;
use std::path::Path;
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

fn totals(source: &[&str], extra: &[&str]) -> Value {
    let mut a = vec!["report", "--format", "json"];
    a.extend_from_slice(source);
    a.extend_from_slice(extra);
    let v: Value = serde_json::from_str(&ok(&a)).unwrap();
    v[0].clone()
}

/// A spool record as the edge writes it.
fn record(
    ts: &str,
    id: &str,
    campaign: &str,
    publisher: &str,
    ip: &str,
    verdict: &str,
    reason: &str,
) -> String {
    format!(
        r#"{{"ts":"{ts}","click_id":"{id}","campaign":"{campaign}","impression":"{id}","publisher":"{publisher}","landing_host":"a.example","verdict":"{verdict}","reason":"{reason}","action":"redirected","method":"GET","ip":"{ip}","user_agent":"Mozilla/5.0","device":"desktop","country":"","referrer_host":"","edge":"e1"}}"#
    )
}

/// Writes records into a data dir's spool, sealed as the edge seals them.
fn write_spool(dir: &Path, name: &str, records: &[String]) {
    std::fs::create_dir_all(dir.join("clicks")).unwrap();
    let mut data = Vec::new();
    for r in records {
        let mut line = r.clone().into_bytes();
        clickedge::internals::spool::record::seal(&mut line);
        data.extend(line);
    }
    std::fs::write(dir.join("clicks").join(name), data).unwrap();
}

fn insert(ch: &ClickHouse, records: &[String]) {
    ch.query(&format!(
        "INSERT INTO clickedge.clicks FORMAT JSONEachRow\n{}\n",
        records.join("\n")
    ));
}

#[test]
fn a_click_flood_is_found_by_rescore_and_counted_the_same_from_both_sources() {
    let ch = ClickHouse::start();
    // One edge ships to ClickHouse; a second, the same clicks' twin, keeps
    // them locally: the same requests to both.
    let central = Edge::start_with(
        "sink:\n  poll_interval_ms: 20\n",
        &["--sink", &ch.sink_url()],
    );
    let local = Edge::start();
    let mut sent = 0;
    for edge in [&central, &local] {
        let mut conn = Conn::open(edge.port).unwrap();
        let mut send = |path: &str, ua: &str, extra: &[(&str, &str)]| {
            let mut h = vec![("User-Agent", ua)];
            h.extend_from_slice(extra);
            conn.send("GET", path, &h, b"").unwrap().status
        };
        let sign = |cmp: &str, imp: &str| {
            edge.sign(&[
                "--landing",
                "https://a.example/",
                "--campaign",
                cmp,
                "--impression",
                imp,
            ])
        };
        // The known mix: 5 valid, 2 bots, 1 double click, 2 opted out (no
        // address kept: valid, but nothing to judge them by afterwards).
        for i in 0..5 {
            assert_eq!(send(&sign("shop", &format!("v{i}")), BROWSER_UA, &[]), 302);
        }
        for i in 0..2 {
            assert_eq!(
                send(&sign("shop", &format!("b{i}")), "Googlebot/2.1", &[]),
                403
            );
        }
        assert_eq!(send(&sign("shop", "v0"), BROWSER_UA, &[]), 302);
        for i in 0..2 {
            assert_eq!(
                send(
                    &sign("shop", &format!("g{i}")),
                    BROWSER_UA,
                    &[("Sec-GPC", "1")]
                ),
                302
            );
        }
        // The flood: 80 clicks on one campaign from one address within
        // seconds, each a new impression, so no inline check sees it.
        for i in 0..80 {
            assert_eq!(send(&sign("flood", &format!("f{i}")), BROWSER_UA, &[]), 302);
        }
        sent = 5 + 2 + 1 + 2 + 80;
    }
    local.wait_events(sent);
    ch.wait_count(sent as u64);
    let ldir = local.data();
    let ldir = ldir.to_str().unwrap();
    let sink = ch.sink_url();
    let lsrc = ["--data-dir", ldir];
    let csrc = ["--sink", sink.as_str()];

    // Before rescore: the flood is valid.
    let before = totals(&lsrc, &[]);
    assert_eq!(before["valid_clicks"], 87);
    assert_eq!(before["backend_invalid_clicks"], 0);

    for src in [&lsrc, &csrc] {
        let out = ok(&[&["rescore"][..], &src[..]].concat());
        assert!(out.contains("50 new adjustments (click_flood 50,"), "{out}");
        // Again: nothing new, every click found was adjusted before.
        let out = ok(&[&["rescore"][..], &src[..]].concat());
        assert!(
            out.contains(" 0 new adjustments") && out.contains("50 found again"),
            "{out}"
        );
    }

    let want = |t: &Value| {
        assert_eq!(t["gross_clicks"], 5 + 2 + 1 + 2 + 80, "{t}");
        assert_eq!(t["valid_clicks"], 5 + 2 + 30, "{t}");
        assert_eq!(t["invalid_clicks"], 2 + 1 + 50, "{t}");
        assert_eq!(t["backend_invalid_clicks"], 50, "{t}");
        assert_eq!(t["invalid_by_reason"]["click_flood"], 50, "{t}");
        assert_eq!(t["invalid_by_reason"]["known_bot"], 2, "{t}");
        assert_eq!(t["invalid_by_reason"]["duplicate"], 1, "{t}");
        // The two opted-out clicks kept no address: undecided.
        // (serde_json parses floats to within one unit in the last place.)
        let rate = t["decision_rate"].as_f64().unwrap();
        assert!((rate - 88.0 / 90.0).abs() < 1e-12, "{t}");
    };
    let l = totals(&lsrc, &[]);
    let c = totals(&csrc, &[]);
    want(&l);
    want(&c);
    assert_eq!(l, c);
    // Grouped, the sources agree too.
    let by = ["--by", "campaign"];
    let l: Value = serde_json::from_str(&ok(
        &[&["report", "--format", "json"][..], &lsrc, &by].concat()
    ))
    .unwrap();
    let c: Value = serde_json::from_str(&ok(
        &[&["report", "--format", "json"][..], &csrc, &by].concat()
    ))
    .unwrap();
    assert_eq!(l, c);
    assert_eq!(l[0]["campaign"], "flood");
    assert_eq!(l[0]["backend_invalid_clicks"], 50);
    // The click log itself is unchanged: the adjustments sit beside it.
    assert_eq!(
        ch.query("SELECT count() FROM clickedge.clicks FINAL WHERE verdict = 'valid'")
            .trim(),
        "87"
    );
    assert_eq!(
        ch.query("SELECT count(), uniqExact(click_id) FROM clickedge.clickedge_adjustments")
            .trim(),
        "50\t50"
    );
}

#[test]
fn a_frozen_month_keeps_its_numbers_and_later_adjustments_are_credits() {
    let ch = ClickHouse::start();
    let dir = tempfile::tempdir().unwrap();
    // October 2026: 40 clicks from one address on one campaign within a
    // minute (a flood of 10 past the default 30), and 5 more elsewhere.
    let mut records = Vec::new();
    for i in 0..40 {
        records.push(record(
            &format!("2026-10-15T10:00:{i:02}.000Z"),
            &format!("f{i:02}"),
            "flood",
            "p1",
            "198.51.100.0",
            "valid",
            "",
        ));
    }
    for i in 0..5 {
        records.push(record(
            &format!("2026-10-20T10:00:0{i}.000Z"),
            &format!("o{i}"),
            "other",
            "p2",
            &format!("203.0.113.{i}"),
            "valid",
            "",
        ));
    }
    records.push(record(
        "2026-10-21T10:00:00.000Z",
        "bot",
        "other",
        "p2",
        "203.0.113.9",
        "invalid",
        "known_bot",
    ));
    write_spool(dir.path(), "1-1-0001.ndjson", &records);
    insert(&ch, &records);
    let late = vec![record(
        "2026-10-22T10:00:00.000Z",
        "late",
        "other",
        "p2",
        "203.0.113.8",
        "valid",
        "",
    )];
    let d = dir.path().to_str().unwrap();
    let sink = ch.sink_url();
    let month = ["--from", "2026-10-01", "--to", "2026-11-01"];
    for src in [["--data-dir", d], ["--sink", sink.as_str()]] {
        // Rescored up to mid-flood before the freeze: 5 clicks (the 31st
        // to the 35th) are found, and the frozen numbers include them.
        let out = ok(&[
            &[
                "rescore",
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-15T10:00:35Z",
            ][..],
            &src,
        ]
        .concat());
        assert!(out.contains(" 5 new adjustments"), "{out}");
        let frozen = ok(&[&["freeze", "--month", "2026-10"][..], &src].concat());
        assert!(frozen.contains("46 gross clicks, 40 valid"), "{frozen}");
        // Frozen once only.
        let (again, _, err) = clickedge(&[&["freeze", "--month", "2026-10"][..], &src].concat());
        assert!(!again && err.contains("frozen already"), "{err}");
        // A month not over yet cannot be frozen.
        let (now, _, err) = clickedge(&[&["freeze", "--month", "2099-01"][..], &src].concat());
        assert!(!now && err.contains("not over yet"), "{err}");

        // The whole month rescored after the freeze: 5 more.
        let out = ok(&[&["rescore"][..], &src, &month].concat());
        assert!(
            out.contains(" 5 new adjustments") && out.contains("5 found again"),
            "{out}"
        );
        // Clicks stored after the freeze change nothing either.
        if src[0] == "--data-dir" {
            write_spool(dir.path(), "1-1-0002.ndjson", &late);
        } else {
            insert(&ch, &late);
        }
        let t = totals(&src, &month);
        assert_eq!(t["valid_clicks"], 40, "the frozen totals stand: {t}");
        assert_eq!(t["invalid_clicks"], 6, "{t}");
        assert_eq!(t["backend_invalid_clicks"], 5, "{t}");
        assert_eq!(
            t["credit_clicks"], 5,
            "only the later ones are credits: {t}"
        );
        // Grouped, the frozen numbers and the credits land in their groups.
        let v: Value = serde_json::from_str(&ok(&[
            &["report", "--format", "json", "--by", "campaign,day"][..],
            &src,
            &month,
        ]
        .concat()))
        .unwrap();
        assert_eq!(v[0]["campaign"], "flood");
        assert_eq!(v[0]["day"], "2026-10-15");
        assert_eq!(
            (
                v[0]["valid_clicks"].as_u64(),
                v[0]["credit_clicks"].as_u64()
            ),
            (Some(35), Some(5))
        );
        // A day of the month read alone: whole days of the frozen numbers.
        let t = totals(&src, &["--from", "2026-10-20", "--to", "2026-10-21"]);
        assert_eq!(
            (t["valid_clicks"].as_u64(), t["credit_clicks"].as_u64()),
            (Some(5), Some(0)),
            "{t}"
        );
    }
}

/// Writes a day of clicks for pub-x: `invalid` of 200 invalid.
fn day_of(day: &str, invalid: usize) -> Vec<String> {
    (0..200)
        .map(|i| {
            let (verdict, reason) = if i < invalid {
                ("invalid", "non_browser")
            } else {
                ("valid", "")
            };
            record(
                &format!("{day}T12:{:02}:{:02}.000Z", i / 60, i % 60),
                &format!("{day}-{i}"),
                "c",
                "pub-x",
                &format!("192.0.2.{}", i % 200),
                verdict,
                reason,
            )
        })
        .collect()
}

#[test]
fn the_strike_ladder_holds_and_suspends_and_the_edge_marks_the_clicks() {
    let dir = tempfile::tempdir().unwrap();
    let days = [
        "2026-01-03",
        "2026-01-10",
        "2026-02-01",
        "2026-02-15",
        "2026-05-10",
    ];
    for (n, day) in days.iter().enumerate() {
        write_spool(dir.path(), &format!("1-1-000{n}.ndjson"), &day_of(day, 150));
    }
    // A day under the threshold is no violation.
    write_spool(dir.path(), "1-1-0009.ndjson", &day_of("2026-01-05", 50));
    let d = dir.path().to_str().unwrap();
    let status_file = dir.path().join("publishers.tsv");
    std::fs::write(&status_file, "").unwrap();
    let edge = Edge::start_with(
        &format!(
            "ivt:\n  duplicate_window_seconds: 0\n  publisher_status_file: {}\n",
            status_file.display()
        ),
        &[],
    );
    let strikes = |args: &[&str]| ok(&[&["strikes"][..], args, &["--data-dir", d]].concat());
    let mut seen = 0;
    // Exports the list on a day, reloads the edge, and returns what the
    // edge logged for a click of pub-x.
    let mut export_and_click = |on: &str| -> (u16, String) {
        strikes(&["export", "--on", on, "--out", status_file.to_str().unwrap()]);
        let before = edge.metric("clickedge_reloads_total{result=\"ok\"}");
        edge.signal("HUP");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while edge.metric("clickedge_reloads_total{result=\"ok\"}") <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "no reload:\n{}",
                edge.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let url = edge.sign(&[
            "--landing",
            "https://a.example/",
            "--campaign",
            "c",
            "--publisher",
            "pub-x",
        ]);
        let r = request(edge.port, "GET", &url, &[("User-Agent", BROWSER_UA)], b"");
        seen += 1;
        let events = edge.wait_events(seen);
        (
            r.status,
            events[seen - 1]["reason"].as_str().unwrap().to_string(),
        )
    };

    assert!(strikes(&["evaluate", "--day", "2026-01-05"]).contains("0 violation"));
    assert!(strikes(&["evaluate", "--day", days[0]]).contains("pub-x\twarning"));
    assert_eq!(export_and_click("2026-01-03"), (302, String::new()));

    assert!(strikes(&["evaluate", "--day", days[1]]).contains("strike: first hold"));
    assert_eq!(
        export_and_click("2026-01-10"),
        (302, "publisher_hold".into())
    );
    // Three days later the hold is not lifted without the acknowledgement.
    assert_eq!(
        export_and_click("2026-01-20"),
        (302, "publisher_hold".into())
    );
    strikes(&["acknowledge", "--publisher", "pub-x", "--on", "2026-01-20"]);
    assert_eq!(export_and_click("2026-01-20"), (302, String::new()));

    assert!(strikes(&["evaluate", "--day", days[2]]).contains("strike: hold"));
    strikes(&["acknowledge", "--publisher", "pub-x", "--on", "2026-02-01"]);
    assert_eq!(
        export_and_click("2026-02-05"),
        (302, "publisher_hold".into()),
        "7 days"
    );
    assert_eq!(export_and_click("2026-02-09"), (302, String::new()));

    assert!(strikes(&["evaluate", "--day", days[3]]).contains("strike: suspended"));
    assert_eq!(
        export_and_click("2026-02-15"),
        (302, "publisher_suspended".into())
    );
    let list = strikes(&["list", "--on", "2026-02-15"]);
    assert!(
        list.contains("pub-x\tsuspended\tactive strikes 3"),
        "{list}"
    );

    strikes(&["appeal", "--publisher", "pub-x", "--on", "2026-02-16"]);
    assert_eq!(export_and_click("2026-02-16"), (302, String::new()));

    // 90 days on, the strikes have expired: the next violation is a first
    // hold again, not a suspension.
    let list = strikes(&["list", "--on", "2026-05-09"]);
    assert!(list.contains("active strikes 0"), "{list}");
    assert!(strikes(&["evaluate", "--day", days[4]]).contains("strike: first hold"));
    // Evaluating a day again changes nothing.
    assert!(strikes(&["evaluate", "--day", days[4]]).contains("evaluated before"));
    assert_eq!(
        export_and_click("2026-05-10"),
        (302, "publisher_hold".into())
    );
}

#[test]
fn template_clicks_cycling_platform_click_ids_are_found_like_impressions() {
    let ch = ClickHouse::start();
    let dir = tempfile::tempdir().unwrap();
    // One address and agent, 120 template clicks in an hour (one each 30
    // seconds: no flood), each with a new gclid and no impression.
    let records: Vec<String> = (0..120)
        .map(|i| {
            format!(
                r#"{{"ts":"2026-10-15T10:{:02}:{:02}.000Z","click_id":"t{i:03}","campaign":"shop","impression":"","publisher":"p1","landing_host":"a.example","verdict":"valid","reason":"","action":"redirected","method":"GET","ip":"198.51.100.0","user_agent":"Mozilla/5.0","device":"desktop","country":"","referrer_host":"","edge":"e1","platform_click_param":"gclid","platform_click_id":"Cj0KCQ-{i}"}}"#,
                i / 2,
                i % 2 * 30
            )
        })
        .collect();
    write_spool(dir.path(), "1-1-0001.ndjson", &records);
    insert(&ch, &records);
    let d = dir.path().to_str().unwrap();
    let sink = ch.sink_url();
    for src in [["--data-dir", d], ["--sink", sink.as_str()]] {
        let out = ok(&[
            &["rescore", "--from", "2026-10-15", "--to", "2026-10-16"][..],
            &src,
        ]
        .concat());
        // Past the default 50 impressions an hour: the 51st on.
        assert!(
            out.contains("70 new adjustments (") && out.contains("impression_cycling 70"),
            "{src:?}: {out}"
        );
        let t = totals(&src, &[]);
        assert_eq!(t["invalid_by_reason"]["impression_cycling"], 70, "{t}");
    }
}
