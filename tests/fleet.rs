//! A fleet against one ClickHouse (docs/storage.md, "A fleet"): eight edge
//! processes ship through the Buffer table of conf/clickhouse/fleet.sql,
//! each inserting at most once per `sink.min_insert_interval_ms`; every
//! click arrives once, none twice, through a restart of half the fleet.

mod common;
use common::clickhouse::{sql_statements, ClickHouse};
use common::*;

const EDGES: usize = 8;
const CLICKS: usize = 60;

fn send_clicks(edge: &Edge, round: usize) {
    let mut conn = Conn::open(edge.port).unwrap();
    for i in 0..CLICKS {
        let url = edge.sign(&[
            "--landing",
            "https://shop.example/",
            "--campaign",
            &format!("c{}", i % 3),
            "--impression",
            &format!("r{round}-{i}"),
        ]);
        let r = conn
            .send("GET", &url, &[("User-Agent", BROWSER_UA)], b"")
            .unwrap();
        assert_eq!(r.status, 302);
    }
}

#[test]
fn eight_edges_through_the_buffer_table_lose_and_double_no_click() {
    let ch = ClickHouse::start();
    for stmt in sql_statements("conf/clickhouse/fleet.sql") {
        // The test's buffer flushes within 1 to 2 seconds.
        ch.query(&stmt.replace("4, 10, 60,", "4, 1, 2,"));
    }
    let url = ch
        .sink_url()
        .replace("clickedge.clicks", "clickedge.clicks_buffer");
    let extra = "sink:\n  poll_interval_ms: 20\n  min_insert_interval_ms: 300\n";
    let mut edges: Vec<Edge> = (0..EDGES)
        .map(|_| Edge::start_with(extra, &["--sink", &url]))
        .collect();
    // `sign` is a process per URL: send from all edges at once.
    std::thread::scope(|s| {
        for e in &edges {
            s.spawn(move || send_clicks(e, 0));
        }
    });
    ch.wait_count((EDGES * CLICKS) as u64);

    // Half the fleet restarts (SIGTERM drains, ships and stops); the next
    // clicks arrive once too, and nothing shipped before comes again.
    for e in edges.iter_mut().take(EDGES / 2) {
        e.stop();
        e.restart(&["--sink", &url]);
    }
    std::thread::scope(|s| {
        for e in &edges {
            s.spawn(move || send_clicks(e, 1));
        }
    });
    ch.wait_count((2 * EDGES * CLICKS) as u64);
    // Without FINAL too: no batch was inserted twice.
    assert_eq!(
        ch.query("SELECT count() FROM clickedge.clicks FORMAT TSV")
            .trim(),
        (2 * EDGES * CLICKS).to_string()
    );
    for e in &edges {
        assert_eq!(e.metric("clickedge_sink_errors_total"), 0.0, "{}", e.log());
    }
}
