//! The event bytes of a fixed set of requests, held against a file written
//! before the click core was moved out of the Pingora glue: the same
//! request must keep giving the same bytes. Only the time, the click id and
//! the checksum (which covers both) differ between runs; they are masked.
//!
//! To re-record after a deliberate change to the event (and say why in the
//! commit): `GOLDEN_WRITE=1 cargo test --release --test golden`.

mod common;
use common::*;
use std::process::Command;

const EXTRA: &str = "ivt:\n  internal_ips: [127.0.0.2]\n  datacenter_ips: [127.0.0.3]\n";

/// One request by curl, as a person's browser or a bot would send it.
fn curl(port: u16, method: &str, path: &str, args: &[&str]) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl is needed: apt-get install -y curl");
    assert!(out.status.success(), "curl failed");
}

/// `"ts":"…"`, `"click_id":"…"` and `"crc":"…"` with their values masked.
fn mask(line: &str) -> String {
    let mut out = line.to_string();
    for field in ["\"ts\":\"", "\"click_id\":\"", "\"crc\":\""] {
        if let Some(at) = out.find(field) {
            let from = at + field.len();
            let len = out[from..].find('"').unwrap();
            out.replace_range(from..from + len, "*");
        }
    }
    out
}

#[test]
fn the_same_requests_give_the_same_event_bytes() {
    let edge = Edge::start_with(EXTRA, &[]);
    let ua = ["-A", BROWSER_UA];
    let sign = |imp: &str, more: &[&str]| {
        let mut args = vec![
            "--landing",
            "https://shop.example/p?a=1#top",
            "--campaign",
            "golden",
            "--impression",
            imp,
        ];
        args.extend_from_slice(more);
        edge.sign(&args)
    };
    let port = edge.port;
    let valid = sign("v1", &["--publisher", "pub-7"]);
    let referer = [
        "-A",
        BROWSER_UA,
        "-H",
        "Referer: https://news.example/a/b?email=x@y.z",
    ];
    curl(port, "GET", &valid, &referer);
    curl(port, "GET", &valid, &ua); // duplicate
    curl(port, "HEAD", &sign("h1", &[]), &["-I", "-A", BROWSER_UA]);
    let beacon = sign("b1", &[]).replacen("/c?", "/b?", 1);
    curl(port, "GET", &beacon, &ua);
    let posted = sign("b2", &[]).replacen("/c?", "/b?", 1);
    curl(port, "POST", &posted, &["-A", BROWSER_UA, "-d", "x=1"]);
    curl(
        port,
        "GET",
        &sign("p1", &[]),
        &["-A", BROWSER_UA, "-H", "Sec-Purpose: prefetch"],
    );
    curl(
        port,
        "GET",
        &sign("g1", &[]),
        &[
            "-A",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ],
    );
    curl(port, "GET", &sign("e1", &[]), &["-A", ""]);
    curl(port, "GET", &sign("t1", &["--test"]), &ua);
    curl(
        port,
        "GET",
        &sign("i1", &[]),
        &["-A", BROWSER_UA, "--interface", "127.0.0.2"],
    );
    curl(
        port,
        "GET",
        &sign("d1", &[]),
        &["-A", BROWSER_UA, "--interface", "127.0.0.3"],
    );
    curl(
        port,
        "GET",
        &sign("o1", &[]),
        &[
            "-A",
            BROWSER_UA,
            "-H",
            "Sec-GPC: 1",
            "-H",
            "Referer: https://news.example/",
        ],
    );
    curl(port, "GET", &sign("k1", &["--child-directed"]), &ua);
    curl(port, "GET", &sign("s1", &[]), &["-A", "Mozilla/5.0 (Linux; Android 14) MyApp/3.2 (user=jane.doe@example.com; tel +1 415-555-0100)"]);
    curl(
        port,
        "GET",
        &sign("m1", &[]),
        &["-A", BROWSER_UA, "-H", "Sec-CH-UA-Mobile: ?1"],
    );
    let n = 15;
    edge.wait_events(n);

    let mut lines = Vec::new();
    let dir = edge.data().join("clicks");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(p).unwrap();
        lines.extend(text.lines().map(mask));
    }
    assert_eq!(lines.len(), n, "one event a request");
    let got = lines.join("\n") + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events.ndjson");
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "event {i} differs");
    }
    assert_eq!(got, want);
}
