//! Limits against abusive clients (`limits.*`), over real sockets: each one
//! answers or closes as documented and counts in
//! `clickedge_limit_hits_total{limit=...}`.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn limited() -> Edge {
    Edge::start_with(
        "limits:\n  max_headers: 8\n  max_header_bytes: 1024\n  header_timeout_seconds: 1\n  idle_timeout_seconds: 1\n  requests_per_connection: 3\n",
        &[],
    )
}

fn hits(edge: &Edge, limit: &str) -> f64 {
    edge.metric(&format!("clickedge_limit_hits_total{{limit=\"{limit}\"}}"))
}

#[test]
fn too_many_or_too_large_headers_get_431_and_are_counted() {
    let edge = limited();
    let named = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("X-H{i}"), "v".to_string()))
            .collect()
    };
    let send = |h: &[(String, String)]| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        request(edge.port, "GET", "/healthz", &h, b"")
    };
    // Host plus 5: within 8.
    assert_eq!(send(&named(5)).status, 200);

    let r = send(&named(10));
    assert_eq!(r.status, 431);
    assert_eq!(r.text(), "too many request header fields\n");
    assert_eq!(hits(&edge, "headers"), 1.0);

    let big = vec![("X-Big".to_string(), "a".repeat(2000))];
    let r = send(&big);
    assert_eq!(r.status, 431);
    assert_eq!(r.text(), "request header too large\n");
    assert_eq!(hits(&edge, "header_bytes"), 1.0);
    // Refusals are not clicks and not logged.
    assert_eq!(edge.metric("clickedge_events_queued_total"), 0.0);
}

#[test]
fn a_header_sent_a_byte_at_a_time_is_cut_at_the_deadline() {
    let edge = limited();
    let mut conn = Conn::open(edge.port).unwrap();
    conn.write_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Keep sending, always within Pingora's per-read timeout, never finishing.
    let start = Instant::now();
    let mut cut = false;
    while start.elapsed() < Duration::from_secs(6) {
        if conn.write_raw(b"X-Slow: a\r\n").is_err()
            || conn.closed_within(Duration::from_millis(200))
        {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "a slow header kept its connection for 6 s; the deadline is 1 s"
    );
    assert_eq!(hits(&edge, "header_timeout"), 1.0);
    // A connection that never sends a byte is cut too.
    let mut silent = Conn::open(edge.port).unwrap();
    assert!(silent.closed_within(Duration::from_secs(6)));
    assert_eq!(hits(&edge, "header_timeout"), 2.0);
}

#[test]
fn idle_keep_alive_connections_are_closed_and_counted() {
    let edge = limited();
    let mut conn = Conn::open(edge.port).unwrap();
    let r = conn.send("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_ne!(r.header("connection"), Some("close"));
    assert!(
        conn.closed_within(Duration::from_secs(6)),
        "an idle connection stayed open"
    );
    // Counted once Pingora hands the closed connection back, just after the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits(&edge, "idle_timeout") < 1.0 {
        assert!(Instant::now() < deadline, "the idle close was not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(hits(&edge, "idle_timeout"), 1.0);
    assert_eq!(hits(&edge, "header_timeout"), 0.0);
}

#[test]
fn a_connection_serves_at_most_its_request_limit() {
    let edge = limited();
    let mut conn = Conn::open(edge.port).unwrap();
    for i in 1..=3 {
        let r = conn.send("GET", "/healthz", &[], b"").unwrap();
        assert_eq!(r.status, 200, "request {i}");
        let close = r.header("connection") == Some("close");
        assert_eq!(close, i == 3, "Connection: close only on request {i} of 3");
    }
    assert!(conn.closed_within(Duration::from_secs(2)));
    assert_eq!(hits(&edge, "requests_per_connection"), 1.0);
}
