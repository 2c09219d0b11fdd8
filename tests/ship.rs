//! Shipping the spool to central storage: a real ClickHouse server and a
//! real HTTP receiver of the test's own (docs/contract.md §6).

mod common;
use common::clickhouse::ClickHouse;
use common::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SINK: &str = "sink:\n  poll_interval_ms: 20\n  retry_initial_ms: 50\n  retry_max_ms: 400\n";

fn browser() -> [(&'static str, &'static str); 1] {
    [("User-Agent", BROWSER_UA)]
}

#[test]
fn every_click_appears_once_field_for_field() {
    let ch = ClickHouse::start();
    let edge = Edge::start_with(SINK, &["--sink", &ch.sink_url()]);
    let mut conn = Conn::open(edge.port).unwrap();
    let mut sent = 0;
    for i in 0..40 {
        let url = edge.sign(&[
            "--landing",
            "https://shop.example/p?x=1",
            "--campaign",
            &format!("c{}", i % 3),
            "--impression",
            &format!("i{i}"),
        ]);
        let (method, path) = match i % 4 {
            0 => ("GET", url.clone()),
            1 => ("HEAD", url.clone()),
            2 => ("GET", url.replacen("/c?", "/b?", 1)),
            _ => ("GET", url.clone()),
        };
        let ua = if i % 10 == 9 {
            "Googlebot/2.1"
        } else {
            BROWSER_UA
        };
        let r = conn
            .send(
                method,
                &path,
                &[("User-Agent", ua), ("Referer", "https://news.example/a")],
                b"",
            )
            .unwrap();
        assert!(matches!(r.status, 204 | 302 | 403));
        sent += 1;
    }
    ch.wait_count(sent);
    // Field for field: every local event (still in the open segment) is a row.
    let local = edge.events();
    assert_eq!(local.len() as u64, sent);
    let rows = ch.query("SELECT * FROM clickedge.clicks FINAL FORMAT JSONEachRow");
    let by_id: HashMap<String, serde_json::Value> = rows
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["click_id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    for e in &local {
        let row = &by_id[e["click_id"].as_str().unwrap()];
        for (k, v) in e.as_object().unwrap() {
            if k == "crc" {
                continue;
            }
            assert_eq!(&row[k], v, "field {k} of {}", e["click_id"]);
        }
    }
    assert_eq!(edge.metric("clickedge_events_shipped_total"), sent as f64);
    // `check` sees the sink and the table.
    let with_sink = edge.dir.path().join("with-sink.yaml");
    let cfg = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(
        &with_sink,
        cfg.replace("sink:\n", &format!("sink:\n  url: {}\n", ch.sink_url())),
    )
    .unwrap();
    let (code, text) = check(&with_sink);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("table has the expected columns"), "{text}");
}

#[test]
fn an_outage_loses_nothing_and_does_not_slow_clicks() {
    let mut ch = ClickHouse::start();
    let mut edge = Edge::start_with(SINK, &["--sink", &ch.sink_url()]);
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    let mut click = |n: usize| {
        for _ in 0..n {
            assert_eq!(conn.send("GET", &url, &browser(), b"").unwrap().status, 302);
        }
    };
    click(300);
    ch.wait_count(300);
    ch.kill();
    // During the outage every click is still answered at once.
    click(700);
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.metric("clickedge_sink_errors_total") < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the shipper never noticed the outage"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    click(500);
    ch.run();
    ch.wait_count(1500);
    edge.stop();
}

#[test]
fn sigkill_while_shipping_then_restart_ships_everything_once() {
    let ch = ClickHouse::start();
    let small_batches =
        "sink:\n  batch_max_events: 20\n  poll_interval_ms: 20\n  retry_initial_ms: 50\n";
    let mut edge = Edge::start_with(small_batches, &["--sink", &ch.sink_url()]);
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..10000 {
        assert_eq!(conn.send("GET", &url, &browser(), b"").unwrap().status, 302);
    }
    // Let the writer flush (the interval is 50 ms), then kill mid-shipping.
    std::thread::sleep(Duration::from_millis(300));
    let shipped_before = ch.counts().1;
    edge.signal("KILL");
    let _ = edge.child.take().unwrap().wait();
    assert!(
        shipped_before < 10000,
        "shipping finished before the kill; nothing tested"
    );
    // What the spool holds now (unshipped and shipped-but-not-deleted).
    let flushed: std::collections::HashSet<String> = edge
        .events()
        .iter()
        .map(|e| e["click_id"].as_str().unwrap().to_string())
        .collect();
    let shipped: std::collections::HashSet<String> = ch
        .query("SELECT click_id FROM clickedge.clicks FINAL FORMAT TSV")
        .lines()
        .map(str::to_string)
        .collect();
    let all: std::collections::HashSet<String> = flushed.union(&shipped).cloned().collect();
    assert_eq!(
        all.len(),
        10000,
        "every answered click was flushed to the spool"
    );

    // Start again on the same data dir.
    let config = edge.config.clone();
    let log = std::fs::File::create(edge.dir.path().join("serve2.log")).unwrap();
    let child = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--sink", &ch.sink_url()])
        .stderr(log)
        .spawn()
        .unwrap();
    edge.child = Some(child);
    ch.wait_count(10000);
    eprintln!("{shipped_before} shipped before SIGKILL; all 10000 exactly once after restart");
}

#[test]
fn damaged_records_are_skipped_counted_and_the_rest_shipped() {
    let ch = ClickHouse::start();
    // Segments left by a process that is gone (its pid cannot exist), one
    // with a flipped byte, one with a torn tail.
    let edge_dir = tempfile::tempdir().unwrap();
    let clicks = edge_dir.path().join("clicks");
    std::fs::create_dir_all(&clicks).unwrap();
    let rec = |i: usize| {
        let mut r = format!(
            "{{\"ts\":\"2026-11-01T00:00:00.{i:03}Z\",\"click_id\":\"dead-{i}\",\"campaign\":\"c\",\"impression\":\"i{i}\",\"publisher\":\"\",\"landing_host\":\"a.example\",\"verdict\":\"valid\",\"reason\":\"\",\"action\":\"redirected\",\"method\":\"GET\",\"ip\":\"192.0.2.0\",\"user_agent\":\"UA\",\"device\":\"desktop\",\"country\":\"\",\"referrer_host\":\"\",\"edge\":\"old\"}}"
        )
        .into_bytes();
        clickedge::internals::spool::record::seal(&mut r);
        r
    };
    let mut a = Vec::new();
    for i in 0..10 {
        let mut r = rec(i);
        if i == 4 {
            r[40] ^= 0x01;
        }
        a.extend(r);
    }
    std::fs::write(clicks.join("0000000000001-4294967294-0001.ndjson"), &a).unwrap();
    let mut b = Vec::new();
    for i in 10..20 {
        b.extend(rec(i));
    }
    let torn = rec(20);
    b.extend(&torn[..torn.len() - 30]);
    std::fs::write(clicks.join("0000000000002-4294967294-0002.ndjson"), &b).unwrap();
    // A record with a good checksum that is not a whole click event (no
    // `edge`): it alone is skipped, not the batch it is in.
    let mut c = Vec::new();
    for i in 21..26 {
        let r = rec(i);
        if i == 23 {
            let text = String::from_utf8(r).unwrap();
            let cut = text.find(",\"edge\"").unwrap();
            let mut r = format!("{}}}", &text[..cut]).into_bytes();
            clickedge::internals::spool::record::seal(&mut r);
            c.extend(r);
        } else {
            c.extend(r);
        }
    }
    std::fs::write(clicks.join("0000000000003-4294967294-0003.ndjson"), &c).unwrap();

    let edge = Edge::start_with(
        SINK,
        &[
            "--sink",
            &ch.sink_url(),
            "--data-dir",
            &edge_dir.path().display().to_string(),
        ],
    );
    ch.wait_count(23);
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.metric("clickedge_spool_damaged_records_total") < 3.0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(edge.metric("clickedge_spool_damaged_records_total"), 3.0);
    assert!(!ch
        .query("SELECT click_id FROM clickedge.clicks WHERE click_id = 'dead-4' FORMAT TSV")
        .contains("dead-4"));
    // Both sealed segments were deleted once shipped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&clicks).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("4294967294")
    }) {
        assert!(
            Instant::now() < deadline,
            "shipped segments were not deleted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn http_sink_gets_gzip_ndjson_with_its_headers_and_retries() {
    let (url, got) = receiver(2);
    let edge = Edge::start_with(
        &format!("{SINK}  headers:\n    X-Api-Key: secret-key\n"),
        &["--sink", &url],
    );
    let u = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..25 {
        assert_eq!(conn.send("GET", &u, &browser(), b"").unwrap().status, 302);
    }
    wait_received(&got, 25);
    let batches = got.lock().unwrap();
    let (headers, events) = &batches[0];
    assert_eq!(
        headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("application/x-ndjson")
    );
    assert_eq!(
        headers.get("x-api-key").map(String::as_str),
        Some("secret-key")
    );
    assert!(
        events[0].get("crc").is_none(),
        "the spool's checksum is not shipped"
    );
    assert_eq!(events[0]["campaign"], "c");
    assert!(edge.metric("clickedge_sink_errors_total") >= 2.0);
}

#[test]
fn a_redirecting_sink_is_not_an_acknowledgement() {
    // A 302 from the sink (an http-to-https move, a login page) keeps the
    // batch, counts a rejection and retries; the data reaches the receiver
    // once it answers 2xx to the POST itself.
    let (url, got) = receiver_answering(
        2,
        b"HTTP/1.1 302 Found\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n",
    );
    let edge = Edge::start_with(SINK, &["--sink", &url]);
    let u = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..10 {
        assert_eq!(conn.send("GET", &u, &browser(), b"").unwrap().status, 302);
    }
    wait_received(&got, 10);
    assert!(edge.metric("clickedge_sink_rejected_total") >= 2.0);
    assert!(edge.log().contains("redirects are not followed"));
}

#[test]
fn segments_named_before_the_position_are_shipped_not_deleted() {
    // The wall clock stepped back: the saved position names a segment an
    // hour after every file now on disk or yet to be written. Those files
    // are unshipped all the same, and none may be skipped or deleted.
    let mut edge = Edge::start_with(SINK, &[]);
    let u = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..3 {
        assert_eq!(conn.send("GET", &u, &browser(), b"").unwrap().status, 302);
    }
    edge.stop();
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    std::fs::write(
        edge.data().join("ship.pos"),
        format!("{ahead:013}-1-0001.ndjson 100\n"),
    )
    .unwrap();
    let (url, got) = receiver(0);
    edge.restart(&["--sink", &url]);
    let mut conn = Conn::open(edge.port).unwrap();
    for _ in 0..2 {
        assert_eq!(conn.send("GET", &u, &browser(), b"").unwrap().status, 302);
    }
    wait_received(&got, 5);
}

#[test]
fn the_spool_quota_refuses_new_events_and_counts_it_but_clicks_are_answered() {
    let mut edge = Edge::start_edited(
        |c| {
            c.replace(
                "events:\n",
                "events:\n  segment_max_bytes: 65536\n  max_spool_bytes: 131072\n",
            )
        },
        &[],
    );
    let url = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    let mut conn = Conn::open(edge.port).unwrap();
    // About 300 events fill the quota; no sink ships them away.
    let sent = 600;
    for i in 0..sent {
        assert_eq!(conn.send("GET", &url, &browser(), b"").unwrap().status, 302);
        if i % 20 == 0 {
            // Several batches, so the quota is checked between them.
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    // Every event queued has been written or refused once the count settles.
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.metric("clickedge_events_spooled_total")
        + edge.metric("clickedge_events_dropped_total")
        < sent as f64
    {
        assert!(
            Instant::now() < deadline,
            "events neither spooled nor dropped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hits = edge.metric("clickedge_spool_quota_hits_total");
    let dropped = edge.metric("clickedge_events_dropped_total");
    edge.stop();
    assert!(hits >= 1.0, "quota never hit");
    let kept = edge.events().len();
    assert!((200..sent).contains(&kept), "{kept} events kept");
    assert_eq!(
        kept as f64 + dropped,
        sent as f64,
        "every click is either on disk or counted as dropped"
    );
    let on_disk: u64 = std::fs::read_dir(edge.data().join("clicks"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 131072, "{on_disk} bytes on disk, quota 131072");
}

#[test]
fn check_says_when_the_sink_is_unreachable_or_the_table_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    let closed = free_port();
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsink:\n  url: clickhouse://127.0.0.1:{closed}/clickedge.clicks\n",
            dir.path().join("d").display()
        ),
    )
    .unwrap();
    let (code, text) = check(&cfg);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{closed}")),
        "names the sink: {text}"
    );

    let ch = ClickHouse::start();
    std::fs::write(
        &cfg,
        format!(
            "data_dir: {}\nsink:\n  url: clickhouse://127.0.0.1:{}/clickedge.nosuchtable\n",
            dir.path().join("d").display(),
            ch.http_port
        ),
    )
    .unwrap();
    let (code, text) = check(&cfg);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("does not exist: create it with conf/clickhouse/schema.sql"),
        "{text}"
    );
}

#[test]
fn a_table_made_before_template_clicks_is_migrated_and_takes_them_grouped_by_platform() {
    let ch = ClickHouse::start();
    // The table as conf/clickhouse/schema.sql made it before template
    // clicks, beside the new one, then the shipped migration run on it.
    let create = common::clickhouse::sql_statements("conf/clickhouse/schema.sql")
        .into_iter()
        .find(|s| s.starts_with("CREATE TABLE"))
        .unwrap()
        .replace("clickedge.clicks", "clickedge.old")
        .lines()
        .filter(|l| {
            !l.contains("platform_click")
                && !l.trim_start().starts_with("rule ")
                && !l.trim_start().starts_with("data_use ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    ch.query(&create);
    let old_url = ch.sink_url().replace("clickedge.clicks", "clickedge.old");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        config_text(free_port(), free_port(), &dir.path().join("d"), ""),
    )
    .unwrap();
    let (code, text) = check_with_sink(&cfg, &old_url);
    assert_eq!(code, Some(1), "the unmigrated table is named: {text}");
    assert!(
        text.contains("lacks columns platform_click_param, platform_click_id, rule, data_use"),
        "{text}"
    );
    for file in [
        "conf/clickhouse/migrations/001-platform-click.sql",
        "conf/clickhouse/migrations/002-rule.sql",
        "conf/clickhouse/migrations/003-data-use.sql",
    ] {
        for stmt in common::clickhouse::sql_statements(file) {
            ch.query(&stmt.replace("clickedge.clicks", "clickedge.old"));
        }
    }
    assert_eq!(check_with_sink(&cfg, &old_url).0, Some(0));

    let edge = Edge::start_with(SINK, &["--sink", &old_url]);
    let template = edge.sign(&[
        "--template",
        "google",
        "--campaign",
        "t",
        "--landing-host",
        "shop.example",
    ]);
    let filled = template
        .replace("{lpurl}", "https%3A%2F%2Fshop.example%2Fp")
        .replace("{gclid}", "EAIaIQ-test");
    let r = edge.get(&filled, &[("User-Agent", BROWSER_UA)]);
    assert_eq!(r.status, 302);
    let classic = edge.sign(&["--landing", "https://shop.example/", "--campaign", "t"]);
    assert_eq!(
        edge.get(&classic, &[("User-Agent", BROWSER_UA)]).status,
        302
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while ch
        .query("SELECT count() FROM clickedge.old FORMAT TSV")
        .trim()
        != "2"
    {
        assert!(Instant::now() < deadline, "not shipped");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows = ch.query(
        "SELECT platform_click_param, platform_click_id, impression FROM clickedge.old ORDER BY platform_click_param FORMAT TSV",
    );
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(lines[1], "gclid\tEAIaIQ-test\t");
    assert!(
        lines[0].starts_with("\t\t"),
        "a classic click has no platform: {rows}"
    );
    let out = std::process::Command::new(BIN)
        .args(["report", "--config"])
        .arg(&edge.config)
        .args(["--sink", &old_url, "--by", "platform", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by: Vec<(String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["platform"].as_str().unwrap().to_string(),
                r["valid_clicks"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by, [("".to_string(), 1), ("google".to_string(), 1)]);
}

/// `clickedge check` with the sink set to `url`.
fn check_with_sink(cfg: &std::path::Path, url: &str) -> (Option<i32>, String) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let with = cfg.with_extension("sink.yaml");
    std::fs::write(&with, format!("{text}sink:\n  url: \"{url}\"\n")).unwrap();
    check(&with)
}

#[test]
fn the_sink_password_never_reaches_the_log() {
    // A sink that refuses every batch, so the shipper retries and warns.
    let (url, _got) = receiver(usize::MAX);
    let url = url.replace("http://", "http://shipper:s3cret-pw@");
    let mut edge = Edge::start_with("", &["--sink", &url]);
    let click = edge.sign(&["--landing", "https://a.example/", "--campaign", "c"]);
    assert_eq!(edge.get(&click, &browser()).status, 302);
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.metric("clickedge_sink_errors_total") < 1.0 {
        assert!(Instant::now() < deadline, "no retry:\n{}", edge.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    edge.stop();
    let log = edge.log();
    assert!(log.contains("shipping the spool"), "{log}");
    assert!(log.contains("shipper:***@"), "{log}");
    assert!(
        !log.contains("s3cret-pw"),
        "the password is in the log:\n{log}"
    );
}
