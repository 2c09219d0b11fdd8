//! docs/contract.md §8: every metric, scraped with curl from the metrics listener,
//! moves as clicks are served, shipped to a real ClickHouse, held back by
//! its outage and refused by the spool quota.

mod common;
use common::clickhouse::ClickHouse;
use common::*;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Every sample of the exposition, by its full name with labels.
fn scrape(edge: &Edge) -> HashMap<String, f64> {
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("http://127.0.0.1:{}/metrics", edge.metrics_port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn get(m: &HashMap<String, f64>, name: &str) -> f64 {
    *m.get(name).unwrap_or_else(|| {
        let mut names: Vec<_> = m.keys().collect();
        names.sort();
        panic!("no metric {name} in {names:#?}")
    })
}

fn clicks(verdict: &str, reason: &str, action: &str) -> String {
    format!(
        "clickedge_clicks_total{{action=\"{action}\",reason=\"{reason}\",verdict=\"{verdict}\"}}"
    )
}

fn wait_for(
    edge: &Edge,
    what: &str,
    mut ok: impl FnMut(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(edge);
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", edge.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_operations_metric_moves_as_clicks_are_served_shipped_and_refused() {
    let mut ch = ClickHouse::start();
    let edge = Edge::start_edited(
        |c| {
            c.replace(
                "events:\n",
                "events:\n  segment_max_bytes: 65536\n  max_spool_bytes: 131072\n",
            ) + "sink:\n  poll_interval_ms: 20\n  retry_initial_ms: 50\n  retry_max_ms: 200\n"
        },
        &["--sink", &ch.sink_url()],
    );
    let before = scrape(&edge);
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "m"]);
    let test_url = edge.sign(&[
        "--landing",
        "https://a.example/",
        "--campaign",
        "m",
        "--test",
    ]);
    let browser = [("User-Agent", BROWSER_UA)];
    let mut conn = Conn::open(edge.port).unwrap();
    assert_eq!(conn.send("GET", &url, &browser, b"").unwrap().status, 302);
    assert_eq!(conn.send("HEAD", &url, &browser, b"").unwrap().status, 302);
    assert_eq!(
        conn.send("GET", &test_url, &browser, b"").unwrap().status,
        302
    );
    let bot = [(
        "User-Agent",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    )];
    assert_eq!(conn.send("GET", &url, &bot, b"").unwrap().status, 403);
    let prefetch = [("User-Agent", BROWSER_UA), ("Sec-Purpose", "prefetch")];
    assert_eq!(conn.send("GET", &url, &prefetch, b"").unwrap().status, 503);
    let forged = url.replace("sig=", "sig=x");
    assert_eq!(
        conn.send("GET", &forged, &browser, b"").unwrap().status,
        403
    );

    // Requests by verdict, reason and action; the latency histogram.
    // Shipped first, then the position saved, then the lag back to 0: a
    // scrape can fall between, so both are waited for.
    let served = wait_for(&edge, "clicks shipped", |m| {
        get(m, "clickedge_events_shipped_total") >= 5.0
            && get(m, "clickedge_ship_lag_seconds") == 0.0
    });
    for (name, by) in [
        (clicks("valid", "", "redirected"), 1.0),
        (clicks("invalid", "head_request", "redirected"), 1.0),
        (clicks("test", "test_click", "redirected"), 1.0),
        (clicks("invalid", "known_bot", "blocked"), 1.0),
        (clicks("invalid", "prefetch", "blocked"), 1.0),
        (
            "clickedge_refused_total{reason=\"bad_signature\"}".to_string(),
            1.0,
        ),
        ("clickedge_click_latency_seconds_count".to_string(), 6.0),
        ("clickedge_events_queued_total".to_string(), 5.0),
        ("clickedge_events_spooled_total".to_string(), 5.0),
        ("clickedge_events_shipped_total".to_string(), 5.0),
    ] {
        assert_eq!(get(&served, &name) - get(&before, &name), by, "{name}");
    }
    assert!(get(&served, "clickedge_click_latency_seconds_sum") > 0.0);
    assert_eq!(get(&served, "clickedge_ship_lag_seconds"), 0.0);

    // An outage: sink errors, a shipping lag, spool bytes piling up, and
    // past the quota, dropped events.
    ch.kill();
    let mut n = 0;
    let outage = wait_for(&edge, "outage metrics", |m| {
        for _ in 0..20 {
            assert_eq!(conn.send("GET", &url, &browser, b"").unwrap().status, 302);
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(60));
        get(m, "clickedge_sink_errors_total") > 0.0
            && get(m, "clickedge_ship_lag_seconds") > 0.0
            && get(m, "clickedge_events_dropped_total") > 0.0
            && get(m, "clickedge_spool_quota_hits_total") > 0.0
    });
    assert!(get(&outage, "clickedge_spool_bytes") > get(&served, "clickedge_spool_bytes"));
    assert!(get(&outage, "clickedge_spool_files") >= 1.0);
    eprintln!("{n} clicks during the outage");
    // The lag is the age of the oldest unshipped event: it keeps growing
    // while the sink stays down (an alert on it must fire).
    let lag = get(&outage, "clickedge_ship_lag_seconds");
    std::thread::sleep(Duration::from_millis(1500));
    let later = get(&scrape(&edge), "clickedge_ship_lag_seconds");
    assert!(
        later >= lag + 1.0,
        "lag {lag} then {later} during the outage"
    );

    // Back: everything kept is shipped, the lag and the spool go back down.
    ch.run();
    let after = wait_for(&edge, "catching up", |m| {
        get(m, "clickedge_ship_lag_seconds") == 0.0
            && get(m, "clickedge_events_shipped_total") == get(m, "clickedge_events_spooled_total")
    });
    assert!(get(&after, "clickedge_spool_bytes") < get(&outage, "clickedge_spool_bytes"));
    assert_eq!(
        get(&after, "clickedge_events_spooled_total")
            + get(&after, "clickedge_events_dropped_total"),
        get(&after, "clickedge_events_queued_total"),
        "every queued event is spooled or counted as dropped"
    );
}
