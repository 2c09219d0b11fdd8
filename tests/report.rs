//! `clickedge report` (docs/contract.md §7): the numbers match the clicks sent, from the
//! local spool and from ClickHouse alike.

mod common;
use common::clickhouse::ClickHouse;
use common::*;
use serde_json::{json, Value};
use std::process::Command;

fn report(args: &[&str]) -> String {
    let out = Command::new(BIN).arg("report").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_report(args: &[&str]) -> Value {
    serde_json::from_str(&report(&[args, &["--format", "json"]].concat())).unwrap()
}

#[test]
fn a_known_mix_is_counted_the_same_from_both_sources() {
    let ch = ClickHouse::start();
    let edge = Edge::start_with(
        "sink:\n  poll_interval_ms: 20\n",
        &["--sink", &ch.sink_url()],
    );
    let sign = |cmp: &str, imp: &str, test: bool| {
        let mut a = vec![
            "--landing",
            "https://a.example/",
            "--campaign",
            cmp,
            "--impression",
            imp,
        ];
        if test {
            a.push("--test");
        }
        edge.sign(&a)
    };
    let mut conn = Conn::open(edge.port).unwrap();
    let mut send = |method: &str, path: &str, ua: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("User-Agent", ua)];
        h.extend_from_slice(extra);
        conn.send(method, path, &h, b"").unwrap().status
    };
    for i in 0..5 {
        assert_eq!(
            send("GET", &sign("a", &format!("v{i}"), false), BROWSER_UA, &[]),
            302
        );
    }
    for i in 0..2 {
        assert_eq!(
            send(
                "GET",
                &sign("a", &format!("bot{i}"), false),
                "Googlebot/2.1",
                &[]
            ),
            403
        );
        assert_eq!(send("GET", &sign("a", "v0", false), BROWSER_UA, &[]), 302); // duplicate
        assert_eq!(
            send("GET", &sign("b", &format!("t{i}"), true), BROWSER_UA, &[]),
            302
        );
    }
    for i in 0..3 {
        assert_eq!(
            send("HEAD", &sign("b", &format!("h{i}"), false), BROWSER_UA, &[]),
            302
        );
    }
    assert_eq!(
        send(
            "GET",
            &sign("b", "p", false),
            BROWSER_UA,
            &[("Sec-Purpose", "prefetch")]
        ),
        503
    );
    assert_eq!(send("GET", &sign("a", "nb", false), "", &[]), 302);
    ch.wait_count(16);

    let data = edge.data().display().to_string();
    let config = edge.config.display().to_string();
    let local = json_report(&["--config", &config, "--data-dir", &data, "--by", "campaign"]);
    let central = json_report(&[
        "--config",
        &config,
        "--sink",
        &ch.sink_url(),
        "--by",
        "campaign",
    ]);
    let reasons = |p: u64, kb: u64, nb: u64, hr: u64, d: u64| {
        json!({"prefetch": p, "known_bot": kb, "link_scanner": 0, "non_browser": nb, "head_request": hr,
               "internal_ip": 0, "datacenter_ip": 0, "publisher_suspended": 0, "publisher_hold": 0,
               "expired": 0, "test_click": 0, "duplicate": d,
               "click_flood": 0, "address_spread": 0, "publisher_spike": 0, "impression_cycling": 0})
    };
    let want = json!([
        {"campaign": "a", "gross_clicks": 10, "valid_clicks": 5, "invalid_clicks": 5, "test_clicks": 0,
         "backend_invalid_clicks": 0, "credit_clicks": 0, "decision_rate": 1.0,
         "invalid_by_reason": reasons(0, 2, 1, 0, 2), "conversions": 0, "conversion_value": {},
         "conversion_rate": 0.0, "conversions_on_invalid_clicks": 0, "invalid_conversion_rate": 0.0,
         "conversions_on_test_clicks": 0, "unattributed_conversions": 0},
        {"campaign": "b", "gross_clicks": 4, "valid_clicks": 0, "invalid_clicks": 4, "test_clicks": 2,
         "backend_invalid_clicks": 0, "credit_clicks": 0, "decision_rate": 1.0,
         "invalid_by_reason": reasons(1, 0, 0, 3, 0), "conversions": 0, "conversion_value": {},
         "conversion_rate": null, "conversions_on_invalid_clicks": 0, "invalid_conversion_rate": 0.0,
         "conversions_on_test_clicks": 0, "unattributed_conversions": 0},
    ]);
    assert_eq!(local, want, "local");
    assert_eq!(central, want, "ClickHouse");

    // Totals, and a range that excludes everything.
    let totals = json_report(&["--config", &config, "--data-dir", &data]);
    assert_eq!(totals[0]["gross_clicks"], 14);
    assert_eq!(totals[0]["test_clicks"], 2);
    let none = json_report(&[
        "--config",
        &config,
        "--sink",
        &ch.sink_url(),
        "--to",
        "2020-01-01",
    ]);
    assert_eq!(none[0]["gross_clicks"], 0);
    // By day and device, both sources agree too.
    let by = ["--by", "day,device,publisher,country"];
    assert_eq!(
        json_report(&[&["--config", &config, "--data-dir", &data][..], &by].concat()),
        json_report(&[&["--config", &config, "--sink", &ch.sink_url()][..], &by].concat())
    );
    // Table and CSV render the same numbers.
    let table = report(&["--config", &config, "--data-dir", &data, "--by", "campaign"]);
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take(5)
            .eq(["a", "10", "5", "5", "0"]),
        "{table}"
    );
    let csv = report(&[
        "--config",
        &config,
        "--data-dir",
        &data,
        "--by",
        "campaign",
        "--format",
        "csv",
    ]);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("b,4,0,4,2,0,0,1.0000,1,0,0,0,3,")),
        "{csv}"
    );
}

#[test]
fn bad_arguments_say_what_to_fix() {
    let out = Command::new(BIN)
        .args([
            "report",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/conf/clickedge.yaml"),
            "--by",
            "ip",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'ip' for '--by")
            && stderr.contains(
                "possible values: campaign, publisher, day, device, country, platform, reason"
            ),
        "{stderr}"
    );
}
