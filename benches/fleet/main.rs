//! `bash benches/fleet/run.sh`: inserts per second and parts created by a
//! fleet of real edges against one real ClickHouse, with and without the
//! minimum insert interval and the Buffer table of
//! conf/clickhouse/fleet.sql. A benchmark, not a test: it prints a table
//! for docs/benchmarks.md and takes a few minutes.

#[path = "../../tests/common/mod.rs"]
mod common;
use common::clickhouse::{sql_statements, ClickHouse};
use common::*;

/// One fleet run for the benchmark: `edges` edges, each sent `rate` clicks
/// a second for `secs` seconds, shipping with `interval_ms` between
/// inserts, into the click table or through the Buffer table.
fn fleet_run(edges: usize, rate: usize, secs: u64, interval_ms: u64, buffer: bool) -> String {
    let ch = ClickHouse::start();
    let table = if buffer {
        for stmt in sql_statements("conf/clickhouse/fleet.sql") {
            ch.query(&stmt);
        }
        "clickedge.clicks_buffer"
    } else {
        "clickedge.clicks"
    };
    let url = ch.sink_url().replace("clickedge.clicks", table);
    let extra = format!("sink:\n  poll_interval_ms: 20\n  min_insert_interval_ms: {interval_ms}\n");
    let fleet: Vec<Edge> = (0..edges)
        .map(|_| Edge::start_with(&extra, &["--sink", &url]))
        .collect();
    let n = rate * secs as usize;
    let lines: Vec<Vec<String>> = fleet
        .iter()
        .map(|e| {
            e.sign(&[
                "--landing",
                "https://shop.example/",
                "--campaign",
                "c",
                "--count",
                &n.to_string(),
            ])
            .lines()
            .map(String::from)
            .collect()
        })
        .collect();
    let events = |ch: &ClickHouse, name: &str| -> u64 {
        ch.query(&format!(
            "SELECT value FROM system.events WHERE event = '{name}' FORMAT TSV"
        ))
        .trim()
        .parse()
        .unwrap_or(0)
    };
    let inserts0 = events(&ch, "InsertQuery");
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for (e, urls) in fleet.iter().zip(&lines) {
            s.spawn(move || {
                let mut conn = Conn::open(e.port).unwrap();
                let t0 = std::time::Instant::now();
                for (i, u) in urls.iter().enumerate() {
                    let due = t0 + std::time::Duration::from_secs_f64(i as f64 / rate as f64);
                    if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    conn.send("GET", u, &[("User-Agent", BROWSER_UA)], b"")
                        .unwrap();
                }
            });
        }
    });
    let sent_in = started.elapsed();
    let total = (edges * n) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while ch.counts().1 < total {
        assert!(std::time::Instant::now() < deadline, "not all shipped");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let inserts = events(&ch, "InsertQuery") - inserts0;
    let parts = |cond: &str| {
        ch.query(&format!(
            "SELECT count() FROM system.parts WHERE database = 'clickedge' AND table = 'clicks' AND {cond} FORMAT TSV"
        ))
        .trim()
        .to_string()
    };
    format!(
        "| {edges} | {rate} | {interval_ms} | {} | {total} | {inserts} | {:.1} | {} | {} |",
        if buffer { "Buffer" } else { "direct" },
        inserts as f64 / sent_in.as_secs_f64(),
        parts("level = 0"),
        parts("active"),
    )
}

fn main() {
    let secs: u64 = std::env::var("FLEET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rows = vec![
        "| edges | clicks/s per edge | min insert interval ms | into | clicks | inserts (InsertQuery) | inserts/s | parts written (level 0) | active parts at the end |".to_string(),
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |".to_string(),
    ];
    for (edges, interval, buffer) in [
        (1, 0, false),
        (8, 0, false),
        (8, 1000, false),
        (8, 1000, true),
    ] {
        rows.push(fleet_run(edges, 50, secs, interval, buffer));
        eprintln!("{}", rows.last().unwrap());
    }
    println!("\n{}\n", rows.join("\n"));
}
