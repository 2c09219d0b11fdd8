//! The edge under abuse, as an attacker would try it on loopback: dripped
//! bodies, more connections than the cap, forged forwarding headers,
//! personal data aimed at the logs and events, pipelined clicks, a dripping
//! metrics client, and malformed framing. Each was observed to fail before
//! the fix it tests.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A one-line origin of the test's own: answers every request `200 origin`
/// and keeps each request's head.
fn origin() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let h = h.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                        head.push_str(&line);
                    }
                    // Read the body too, as a real origin would.
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    h.lock().unwrap().push(head);
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\norigin");
                }
            });
        }
    });
    (port, heads)
}

fn click(edge: &Edge, imp: &str) -> String {
    edge.sign(&[
        "--landing",
        "https://shop.example/",
        "--campaign",
        "abuse",
        "--impression",
        imp,
    ])
}

/// A connection that has sent a beacon POST's header, with `extra` header
/// lines, and no body yet.
fn beacon_head(edge: &Edge, imp: &str, extra: &str) -> Conn {
    let beacon = click(edge, imp).replacen("/c?", "/b?", 1);
    let mut conn = Conn::open(edge.port).unwrap();
    let head =
        format!("POST {beacon} HTTP/1.1\r\nHost: e\r\nUser-Agent: {BROWSER_UA}\r\n{extra}\r\n\r\n");
    conn.write_raw(head.as_bytes()).unwrap();
    conn
}

#[test]
fn a_dripped_beacon_body_is_cut_at_its_deadline_and_the_beacon_still_counts() {
    let edge = Edge::start_with("limits:\n  body_timeout_seconds: 1\n", &[]);
    let mut conn = beacon_head(&edge, "drip", "Transfer-Encoding: chunked");
    assert!(drip_until_cut(&mut conn), "the drip was never cut");
    assert_eq!(
        edge.metric("clickedge_limit_hits_total{limit=\"body_timeout\"}"),
        1.0
    );
    let ev = edge.wait_events(1);
    assert_eq!(ev[0]["action"], "beacon");
    // The edge still answers others.
    assert_eq!(
        edge.get(&click(&edge, "after"), &[("User-Agent", BROWSER_UA)])
            .status,
        302
    );
}

#[test]
fn a_dripped_body_to_the_origin_is_cut_at_its_deadline() {
    let (origin_port, _) = origin();
    let edge = Edge::start_with(
        "limits:\n  body_timeout_seconds: 1\n",
        &["--origin", &format!("127.0.0.1:{origin_port}")],
    );
    let mut conn = Conn::open(edge.port).unwrap();
    conn.write_raw(b"POST /upload HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // The edge may answer with an error before it closes: read it away.
    let _ = drip_until_cut(&mut conn);
    assert!(edge.metric("clickedge_limit_hits_total{limit=\"body_timeout\"}") >= 1.0);
}

/// Sends a chunked body one byte every 300 ms (each piece in time, the
/// whole never) for up to 8 s; whether the edge cut it (a write failed, or
/// the connection closed within 5 s more, whatever it answered first).
fn drip_until_cut(conn: &mut Conn) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        if conn.write_raw(b"1\r\nx\r\n").is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if conn.read_line().is_err() {
            return true;
        }
    }
    false
}

#[test]
fn connections_past_the_cap_are_closed_while_a_kept_alive_client_is_served() {
    let edge = Edge::start_edited(
        |c| c.replace("server:\n", "server:\n  max_connections: 4\n"),
        &[],
    );
    // A person's browser, already connected, clicking now and then.
    let mut person = Conn::open(edge.port).unwrap();
    let mut clicks = |imp: &str| {
        let url = click(&edge, imp);
        let r = person.send("GET", &url, &[("User-Agent", BROWSER_UA)], b"");
        r.unwrap().status
    };
    assert_eq!(clicks("p1"), 302);
    // Three idle connections fill the cap; every one after is closed at once.
    let _held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", edge.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let mut c = Conn::open(edge.port).unwrap();
        assert!(
            c.closed_within(Duration::from_secs(5)),
            "a connection past the cap stayed open"
        );
    }
    assert_eq!(
        edge.metric("clickedge_limit_hits_total{limit=\"connections\"}"),
        5.0
    );
    assert_eq!(clicks("p2"), 302);
}

#[test]
fn forwarded_addresses_are_believed_from_trusted_proxies_only_and_the_origin_gets_the_edges_own() {
    let (origin_port, heads) = origin();
    let origin_flag = format!("127.0.0.1:{origin_port}");
    let forged = [
        ("User-Agent", BROWSER_UA),
        ("X-Forwarded-For", "6.6.6.6, 198.51.100.23"),
        ("Forwarded", "for=7.7.7.7"),
    ];
    // A click and a proxied request through an edge that trusts `cidr`:
    // the click's recorded address, and the head the origin received.
    let through = |cidr: &str, imp: &str| {
        let edge = Edge::start_edited(
            |c| {
                c.replace(
                    "server:\n",
                    &format!("server:\n  trusted_proxies: [{cidr}]\n"),
                )
            },
            &["--origin", &origin_flag],
        );
        assert_eq!(edge.get(&click(&edge, imp), &forged).status, 302);
        let ip = edge.wait_events(1)[0]["ip"].as_str().unwrap().to_string();
        assert_eq!(edge.get("/page", &forged).status, 200);
        let head = heads.lock().unwrap().pop().unwrap().to_ascii_lowercase();
        (ip, head)
    };
    // Behind a trusted load balancer (here, loopback itself).
    let (ip, head) = through("127.0.0.0/8", "t1");
    assert_eq!(ip, "198.51.100.0");
    assert!(
        head.contains("x-forwarded-for: 198.51.100.23, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(
        !head.contains("6.6.6.6") && !head.contains("forwarded: for"),
        "{head}"
    );
    // Without trust, the socket peer is the client and the headers are ignored.
    let (ip, head) = through("10.0.0.0/8", "u1");
    assert_eq!(ip, "127.0.0.0");
    assert!(head.contains("x-forwarded-for: 127.0.0.1\r\n"), "{head}");
    assert!(
        !head.contains("6.6.6.6") && !head.contains("198.51.100.23"),
        "{head}"
    );
}

#[test]
fn an_unreadable_forwarding_entry_never_lets_the_client_choose_its_address() {
    // Behind a trusted proxy (loopback) that wrote `unknown` for its peer,
    // the address the client wrote to the left is not believed.
    let edge = Edge::start_edited(
        |c| c.replace("server:\n", "server:\n  trusted_proxies: [127.0.0.0/8]\n"),
        &[],
    );
    let forged: [(&str, &str); 3] = [
        ("X-Forwarded-For", "1.1.1.1, unknown"),
        ("X-Forwarded-For", "1.1.1.1, garbage"),
        ("Forwarded", "for=1.1.1.1, for=unknown"),
    ];
    for (i, (name, value)) in forged.iter().enumerate() {
        let url = click(&edge, &format!("fwd{i}"));
        let headers = [("User-Agent", BROWSER_UA), (*name, *value)];
        assert_eq!(edge.get(&url, &headers).status, 302);
    }
    let events = edge.wait_events(forged.len());
    for (e, (name, value)) in events.iter().zip(forged) {
        assert_eq!(e["ip"], "127.0.0.0", "{name}: {value}");
    }
}

#[test]
fn an_address_in_another_spelling_or_with_a_port_is_scrubbed_too() {
    let edge = Edge::start();
    let ua = format!("{BROWSER_UA} MyApp/3.2 (server 203.0.113.9:443)");
    let referers = [
        "http://192.168.1.5./landing",
        "http://0x7f000001/",
        "https://3232235777/x",
        "http://017.0.0.1:8080/",
        "http://a b.com/",
    ];
    for (i, referer) in referers.iter().enumerate() {
        let url = click(&edge, &format!("spelling{i}"));
        let r = edge.get(&url, &[("User-Agent", &ua), ("Referer", referer)]);
        assert_eq!(r.status, 302);
    }
    let events = edge.wait_events(referers.len());
    for (e, referer) in events.iter().zip(referers) {
        let want = if referer.contains(' ') {
            ""
        } else {
            "[scrubbed]"
        };
        assert_eq!(e["referrer_host"], want, "{referer}");
        let ua = e["user_agent"].as_str().unwrap();
        assert!(!ua.contains("203.0.113"), "{ua}");
    }
}

#[test]
fn the_origin_gets_only_the_client_address_scheme_and_host_the_edge_vouches_for() {
    let (origin_port, heads) = origin();
    let origin_flag = format!("127.0.0.1:{origin_port}");
    let forged = [
        ("X-Forwarded-For", "6.6.6.6, 198.51.100.23"),
        ("X-Real-IP", "6.6.6.1"),
        ("True-Client-IP", "6.6.6.2"),
        ("X-Client-IP", "6.6.6.3"),
        ("CF-Connecting-IP", "6.6.6.4"),
        ("Fastly-Client-IP", "6.6.6.5"),
        ("Forwarded", "for=6.6.6.7;host=evil.example;proto=https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let through = |trusted: &str| {
        let edge = Edge::start_edited(
            |c| {
                c.replace(
                    "server:\n",
                    &format!("server:\n  trusted_proxies: [{trusted}]\n"),
                )
            },
            &["--origin", &origin_flag],
        );
        assert_eq!(edge.get("/page", &forged).status, 200);
        let head = heads.lock().unwrap().pop().unwrap().to_ascii_lowercase();
        assert!(
            !head.contains("6.6.6.") && !head.contains("evil.example"),
            "{head}"
        );
        for gone in [
            "true-client-ip",
            "x-client-ip",
            "cf-connecting-ip",
            "fastly-client-ip",
            "forwarded:",
        ] {
            assert!(!head.contains(&format!("\n{gone}")), "{gone} in {head}");
        }
        head
    };
    // From the client itself: its address, and the scheme it used.
    let head = through("10.0.0.0/8");
    assert!(head.contains("\r\nx-real-ip: 127.0.0.1\r\n"), "{head}");
    assert!(head.contains("\r\nx-forwarded-proto: http\r\n"), "{head}");
    // Behind a trusted proxy: the client it forwarded, and the scheme it
    // says the client used.
    let head = through("127.0.0.0/8");
    assert!(head.contains("\r\nx-real-ip: 198.51.100.23\r\n"), "{head}");
    assert!(head.contains("\r\nx-forwarded-proto: https\r\n"), "{head}");
}

#[test]
fn a_failed_proxy_logs_no_path_or_query() {
    let closed = free_port();
    let edge = Edge::start_with("", &["--origin", &format!("127.0.0.1:{closed}")]);
    for path in [
        "/account?email=jane.doe@example.com",
        "/c/?u=https%3A%2F%2Fjane.example%2F",
        "//c?u=jane",
    ] {
        let r = edge.get(path, &[]);
        assert!(r.status >= 500, "{path}: {}", r.status);
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = edge.log();
    assert!(log.contains("withheld"), "the failures are logged: {log}");
    assert!(!log.contains("jane"), "{log}");
}

#[test]
fn no_full_address_reaches_the_event_from_the_user_agent_or_the_referrer() {
    let edge = Edge::start();
    let ua =
        "Mozilla/5.0 (Linux; Android 14) MyBrowser/3.2 (clientip=203.0.113.77; v6 2001:db8::7)";
    let url = click(&edge, "ip");
    let r = edge.get(
        &url,
        &[
            ("User-Agent", ua),
            ("Referer", "http://203.0.113.78/landing?x=1"),
        ],
    );
    assert_eq!(r.status, 302);
    let line = serde_json::to_string(&edge.wait_events(1)[0]).unwrap();
    for needle in ["203.0.113.77", "203.0.113.78", "2001:db8::7"] {
        assert!(!line.contains(needle), "{needle} in {line}");
    }
    assert!(line.contains("MyBrowser/3.2"), "{line}");
}

#[test]
fn pipelined_clicks_are_each_answered_in_order_and_logged() {
    let edge = Edge::start();
    let (a, b) = (click(&edge, "pipe-a"), click(&edge, "pipe-b"));
    let mut conn = Conn::open(edge.port).unwrap();
    let req = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: e\r\nUser-Agent: {BROWSER_UA}\r\n\r\n");
    conn.write_raw(format!("{}{}", req(&a), req(&b)).as_bytes())
        .unwrap();
    let first = conn.read_response("GET").unwrap();
    let second = conn.read_response("GET").unwrap();
    assert_eq!((first.status, second.status), (302, 302));
    let events = edge.wait_events(2);
    let imps: Vec<_> = events
        .iter()
        .map(|e| e["impression"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(imps, ["pipe-a", "pipe-b"]);
    // And the connection is still good for a third.
    let third = conn
        .send(
            "GET",
            &click(&edge, "pipe-c"),
            &[("User-Agent", BROWSER_UA)],
            b"",
        )
        .unwrap();
    assert_eq!(third.status, 302);
}

#[test]
fn a_dripping_metrics_client_is_cut_at_the_header_deadline() {
    let edge = Edge::start_with("limits:\n  header_timeout_seconds: 1\n", &[]);
    let mut conn = Conn::open(edge.metrics_port).unwrap();
    let start = Instant::now();
    let mut cut = false;
    for b in b"GET /metrics HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(b"a".repeat(40).iter())
    {
        if conn.write_raw(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
        if start.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    assert!(
        cut || conn.closed_within(Duration::from_secs(3)),
        "the metrics listener waited for ever"
    );
    assert_eq!(edge.get("/healthz", &[]).status, 200);
    assert!(edge.metric("clickedge_limit_hits_total{limit=\"header_timeout\"}") >= 1.0);
}

#[test]
fn a_beacon_that_expects_100_continue_gets_it() {
    let edge = Edge::start();
    let mut conn = beacon_head(&edge, "expect", "Expect: 100-continue\r\nContent-Length: 4");
    assert_eq!(conn.read_line().unwrap(), "HTTP/1.1 100 Continue");
    assert_eq!(conn.read_line().unwrap(), "");
    conn.write_raw(b"ping").unwrap();
    assert_eq!(conn.read_response("POST").unwrap().status, 204);
    assert_eq!(edge.wait_events(1)[0]["action"], "beacon");
}

#[test]
fn malformed_framing_is_refused_and_counted() {
    let (origin_port, heads) = origin();
    let edge = Edge::start_with("", &["--origin", &format!("127.0.0.1:{origin_port}")]);
    let raw = |req: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let no_host = raw("GET /page HTTP/1.1\r\n\r\n");
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    let doubled = raw("POST /page HTTP/1.1\r\nHost: e\r\nContent-Length: 3, 3\r\n\r\nabc");
    assert!(doubled.starts_with("HTTP/1.1 400"), "{doubled}");
    assert!(
        heads.lock().unwrap().is_empty(),
        "nothing reached the origin"
    );
    assert_eq!(
        edge.metric("clickedge_bad_requests_total{reason=\"missing_host\"}"),
        1.0
    );
    assert_eq!(
        edge.metric("clickedge_bad_requests_total{reason=\"bad_content_length\"}"),
        1.0
    );
    // HTTP/1.0 needs no Host.
    assert!(raw("GET /page HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200"));
}

/// The resident size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn http2_floods_over_tls_are_answered_without_the_edge_running_away() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "a");
    let tls_port = free_port();
    let edge = Edge::start_with(
        &format!(
            "tls:\n  listen: [\"127.0.0.1:{tls_port}\"]\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
            cert.display(),
            key.display()
        ),
        &[],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/abuse/h2_floods.py");
    let before = rss_kib(edge.pid());
    // A real HTTP/2 client that sends what browsers never do (Python's h2,
    // frames by hand where it refuses): each flood bounded in count and time.
    for attack in ["rapid_reset", "continuation", "streams", "hpack"] {
        let out = std::process::Command::new("python3")
            .args([script, "--port", &tls_port.to_string(), "--attack", attack])
            .args(["--count", "5000", "--seconds", "8"])
            .output()
            .expect("python3 with the h2 package is needed: pip install h2");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{attack}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(
            v["healthz_after"], 200,
            "{attack}: the edge stopped serving: {v}"
        );
        let now = rss_kib(edge.pid());
        assert!(
            now < before + 256 * 1024,
            "{attack}: resident size {before} KiB -> {now} KiB"
        );
    }
    assert_eq!(edge.get("/healthz", &[]).status, 200);
}

#[test]
fn an_endless_header_is_cut_at_the_header_limit_not_at_pingoras_megabyte() {
    let (origin_port, heads) = origin();
    let edge = Edge::start_with("", &["--origin", &format!("127.0.0.1:{origin_port}")]);
    let before = rss_kib(edge.pid());
    let line = format!(
        "GET /page HTTP/1.1\r\nHost: e\r\nX-Junk: {}",
        "a".repeat(64 * 1024)
    );
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        // Past the 16 KiB limit the edge stops reading and closes.
        for _ in 0..16 {
            if s.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        held.push(s);
    }
    // Every one is cut at the limit (without the budget none is: Pingora
    // holds each until the header deadline or its own 1 MiB)...
    let deadline = Instant::now() + Duration::from_secs(15);
    while edge.metric("clickedge_limit_hits_total{limit=\"header_bytes\"}") < 100.0 {
        assert!(
            Instant::now() < deadline,
            "the endless headers were not cut"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ... and while their clients still hold them, the edge holds little.
    let peak = rss_kib(edge.pid());
    assert!(
        peak < before + 50 * 1024,
        "100 endless headers took {before} -> {peak} KiB"
    );
    drop(held);
    // Bodies are not headers: a 1 MiB upload, with and without
    // Expect: 100-continue, reaches the origin.
    let body = vec![b'x'; 1024 * 1024];
    let mut conn = Conn::open(edge.port).unwrap();
    assert_eq!(
        conn.send("POST", "/upload", &[], &body).unwrap().status,
        200
    );
    assert_eq!(
        conn.send("POST", "/upload2", &[], &body).unwrap().status,
        200
    );
    assert_eq!(heads.lock().unwrap().len(), 2);
}
