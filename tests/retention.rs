//! `clickedge retention`: personal detail goes at its configured age, from
//! the local spool and from a real ClickHouse; clicks and counts stay.

mod common;
use common::clickhouse::ClickHouse;
use common::*;
use std::path::Path;
use std::process::Command;

fn retention(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("retention")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `n` clicks from distinct impressions, in `ip_mode: full`.
fn clicks(edge: &Edge, n: usize) {
    for i in 0..n {
        let url = edge.sign(&[
            "--landing",
            "https://shop.example/p",
            "--campaign",
            "c",
            "--impression",
            &format!("i{i}"),
        ]);
        assert_eq!(edge.get(&url, &[("User-Agent", BROWSER_UA)]).status, 302);
    }
    edge.wait_events(n);
}

const FULL: &str = "privacy:\n  ip_mode: full\n";

/// Sets the retention ages in the edge's config file (days).
fn set_ages(config: &Path, ip: u32, ua: u32, ip_full: u32) {
    let text = std::fs::read_to_string(config).unwrap();
    // Drop the block an earlier call wrote.
    let text: String = text
        .split_inclusive('\n')
        .filter(|l| {
            !l.starts_with("  retention:")
                && !l.trim_start().ends_with("_days: 0\n")
                && !l.contains("_days: 3650")
        })
        .collect();
    let text = text.replace(
        "privacy:\n  ip_mode: full\n",
        &format!(
            "privacy:\n  ip_mode: full\n  retention:\n    ip_days: {ip}\n    \
             user_agent_days: {ua}\n    ip_full_days: {ip_full}\n"
        ),
    );
    std::fs::write(config, text).unwrap();
}

#[test]
fn local_spool_loses_each_field_at_its_age_and_keeps_every_click() {
    let mut edge = Edge::start_with(FULL, &[]);
    clicks(&edge, 20);
    edge.stop();
    let config = edge.config.clone();
    let data = edge.data();
    let before = read_events(&data.join("clicks"));
    assert_eq!(before.len(), 20);
    assert!(before.iter().all(|e| e["ip_full"] == "127.0.0.1"));

    // Nothing is old enough yet: nothing changes.
    let (ok, out) = retention(&config, &["--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("0 changed"), "{out}");
    assert_eq!(read_events(&data.join("clicks")), before);

    // ip_full and ip due now, the user agent not yet.
    set_ages(&config, 0, 3650, 0);
    let (ok, out) = retention(&config, &["--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("20 changed"), "{out}");
    let after = read_events(&data.join("clicks"));
    assert_eq!(after.len(), 20);
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a["ip"], "[scrubbed]");
        assert!(a.get("ip_full").is_none(), "{a}");
        assert_eq!(a["user_agent"], b["user_agent"]);
        assert_eq!(a["click_id"], b["click_id"]);
        assert_eq!(a["verdict"], b["verdict"]);
    }

    // Then the user agent: cut to the device class.
    set_ages(&config, 0, 0, 0);
    let (ok, out) = retention(&config, &["--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}");
    let last = read_events(&data.join("clicks"));
    assert_eq!(last.len(), 20);
    assert!(
        last.iter().all(|e| e["user_agent"] == "desktop"),
        "{last:?}"
    );
    let text = std::fs::read_to_string(
        std::fs::read_dir(data.join("clicks"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(!text.contains("127.0.0.1") && !text.contains("Mozilla"));
}

#[test]
fn local_retention_refuses_while_a_shipper_holds_the_spool() {
    let ch = ClickHouse::start();
    let edge = Edge::start_with(FULL, &["--sink", &ch.sink_url()]);
    clicks(&edge, 1);
    // The running edge's shipper holds ship.lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (ok, out) = retention(&edge.config, &["--data-dir", edge.data().to_str().unwrap()]);
        if !ok {
            assert!(out.contains("shipper is running"), "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refused: {out}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn clickhouse_loses_each_field_at_its_age_and_keeps_every_click() {
    let ch = ClickHouse::start();
    let edge = Edge::start_with(
        &format!("{FULL}sink:\n  poll_interval_ms: 20\n"),
        &["--sink", &ch.sink_url()],
    );
    clicks(&edge, 30);
    ch.wait_count(30);
    let table = "clickedge.clicks";
    let q = |sql: &str| ch.query(&sql.replace("{t}", table)).trim().to_string();
    assert_eq!(
        q("SELECT count() FROM {t} WHERE ip_full = '127.0.0.1'"),
        "30"
    );
    // ClickHouse's `time` has whole seconds: let "older than 0 days" hold.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    set_ages(&edge.config, 0, 3650, 0);
    let (ok, out) = retention(&edge.config, &["--sink", &ch.sink_url()]);
    assert!(ok, "{out}");
    assert_eq!(q("SELECT count() FROM {t}"), "30");
    assert_eq!(
        q("SELECT count() FROM {t} WHERE ip != '[scrubbed]' OR ip_full != ''"),
        "0"
    );
    assert_eq!(q("SELECT count() FROM {t} WHERE user_agent = device"), "0");

    set_ages(&edge.config, 0, 0, 0);
    let (ok, out) = retention(&edge.config, &["--sink", &ch.sink_url()]);
    assert!(ok, "{out}");
    assert_eq!(q("SELECT count() FROM {t} WHERE user_agent = device"), "30");
    assert_eq!(q("SELECT uniqExact(click_id) FROM {t}"), "30");
}

/// The whole report, as json.
fn report(config: &Path, source: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "report",
            "--format",
            "json",
            "--by",
            "campaign,day",
            "--config",
        ])
        .arg(config)
        .args(source)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn retention_changes_no_report_and_no_decision_rate() {
    let ch = ClickHouse::start();
    let central = Edge::start_with(
        &format!("{FULL}sink:\n  poll_interval_ms: 20\n"),
        &["--sink", &ch.sink_url()],
    );
    let mut local = Edge::start_with(FULL, &[]);
    for edge in [&central, &local] {
        clicks(edge, 4);
        // Opted out: stored without an address from the start, undecided.
        let url = edge.sign(&[
            "--landing",
            "https://shop.example/p",
            "--campaign",
            "c",
            "--impression",
            "gpc",
        ]);
        let h = [("User-Agent", BROWSER_UA), ("Sec-GPC", "1")];
        assert_eq!(edge.get(&url, &h).status, 302);
    }
    local.wait_events(5);
    local.stop();
    ch.wait_count(5);
    let data = local.data();
    let lsrc = ["--data-dir", data.to_str().unwrap()];
    let sink = ch.sink_url();
    let csrc = ["--sink", sink.as_str()];
    let before = report(&local.config, &lsrc);
    assert_eq!(before[0]["valid_clicks"], 5, "{before}");
    assert_eq!(before[0]["decision_rate"], 0.8, "{before}");
    assert_eq!(report(&central.config, &csrc), before);

    // ClickHouse's `time` has whole seconds: let "older than 0 days" hold.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (edge, src) in [(&local, &lsrc), (&central, &csrc)] {
        set_ages(&edge.config, 0, 0, 0);
        let (ok, out) = retention(&edge.config, src);
        assert!(ok, "{out}");
        assert_eq!(report(&edge.config, src), before, "{src:?}");
    }
    // The detail is gone all the same.
    let after = read_events(&data.join("clicks"));
    assert!(
        after.iter().all(|e| e["user_agent"] == "desktop"),
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .all(|e| !e["ip"].as_str().unwrap().contains("127")),
        "{after:?}"
    );
}
