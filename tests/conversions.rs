//! Conversion intake end to end (docs/contract.md §9), against the real
//! binary: each refusal with its status, reason and counter; `202` only
//! once the record is on disk (a SIGKILL right after loses nothing); a
//! retried postback stored once, across a restart and across two edges
//! (ClickHouse counts it once); the records shipped to ClickHouse and the
//! HTTP sink; `check` refusing a sensitive action; and no secret, e-mail
//! address or raw transaction id in any log line, metric or record.

mod common;
use common::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEY: &str = "shop-secret-for-tests-0123";
const OTHER_KEY: &str = "network-secret-for-tests-0123";
const TXN: &str = "ORDER-77-secret-txn";
const EMAIL: &str = "jane.doe@mail.example";

fn conversions(extra: &str) -> String {
    format!(
        r#"
conversions:
  keys: {{shop: "{KEY}", network: "{OTHER_KEY}"}}
  txn_hash_key: "txn-hash-key-for-tests-0123"
  actions:
    purchase: {{category: purchase, label: "Purchase"}}
    signup: {{category: signup}}
{extra}"#
    )
}

fn edge() -> Edge {
    Edge::start_with(&conversions(""), &[])
}

/// A real click's id, as its landing page receives it.
fn click(edge: &Edge) -> String {
    let url = edge.sign(&["--landing", "https://shop.example/", "--campaign", "c1"]);
    let r = edge.get(&url, &[("User-Agent", BROWSER_UA)]);
    assert_eq!(r.status, 302, "{}", r.text());
    let loc = r.header("location").unwrap().to_string();
    let id = loc
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("clickid="))
        .unwrap_or_else(|| panic!("no clickid in {loc}"));
    id.to_string()
}

/// A click id issued `ago` ago (a UUIDv7 with that time).
fn old_click_id(ago: Duration) -> String {
    let ms = (SystemTime::now() - ago)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let rand = uuid::Uuid::new_v4().as_u128();
    let v = (u128::from(ms) << 80) | (0x7u128 << 76) | (rand & ((1u128 << 76) - 1));
    let v = (v & !(0b11u128 << 62)) | (0b10u128 << 62);
    uuid::Uuid::from_u128(v).to_string()
}

fn post(edge: &Edge, body: &str, headers: &[(&str, &str)]) -> Response {
    request(
        edge.port,
        "POST",
        "/v1/conversions",
        headers,
        body.as_bytes(),
    )
}

fn post_json(edge: &Edge, body: &str) -> Response {
    let auth = format!("Bearer {KEY}");
    post(
        edge,
        body,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
    )
}

/// A POST that declares a body over `conversions.max_body_bytes`: answered
/// before it is sent.
fn too_large(edge: &Edge) -> Response {
    let mut c = Conn::open(edge.port).unwrap();
    c.write_raw(
        format!("POST /v1/conversions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {KEY}\r\nContent-Length: 3000000\r\n\r\n{{")
            .as_bytes(),
    )
    .unwrap();
    c.read_response("POST").unwrap()
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// Every conversion record under the data dir.
fn records(edge: &Edge) -> Vec<serde_json::Value> {
    read_events(&edge.data().join("conversions"))
}

fn refused(edge: &Edge, reason: &str) -> f64 {
    edge.metric(&format!(
        "clickedge_conversions_refused_total{{reason=\"{reason}\"}}"
    ))
}

#[test]
fn each_refusal_has_its_status_and_reason_is_counted_and_stores_nothing() {
    let edge = edge();
    let id = click(&edge);
    let old = old_click_id(Duration::from_secs(40 * 86_400));
    let auth = format!("Bearer {KEY}");
    let j = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let cases: Vec<(Response, u16, &str)> = vec![
        (
            post(
                &edge,
                &format!(r#"{{"click_id":"{id}","event":"purchase"}}"#),
                &[("Content-Type", "application/json")],
            ),
            401,
            "unauthorized",
        ),
        (
            post(
                &edge,
                &format!(r#"{{"click_id":"{id}","event":"purchase"}}"#),
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", "Bearer wrong-secret-0123456789"),
                ],
            ),
            401,
            "unauthorized",
        ),
        (
            post_json(&edge, &format!(r#"{{"click_id":"{id}","event":"refund"}}"#)),
            400,
            "unknown_event",
        ),
        (
            post_json(
                &edge,
                &format!(r#"{{"click_id":"{id}","event":"purchase","txn":"{EMAIL}"}}"#),
            ),
            400,
            "personal_data",
        ),
        (
            post_json(
                &edge,
                &format!(r#"{{"click_id":"{id}","event":"purchase","email":"{EMAIL}"}}"#),
            ),
            400,
            "unknown_field",
        ),
        (
            post_json(
                &edge,
                &format!(r#"{{"click_id":"{old}","event":"purchase"}}"#),
            ),
            422,
            "outside_window",
        ),
        (
            post_json(
                &edge,
                &format!(r#"{{"click_id":"{id}","event":"purchase","value":"12.5"}}"#),
            ),
            400,
            "bad_currency",
        ),
        (
            post_json(&edge, r#"{"event":"purchase"}"#),
            400,
            "missing_field",
        ),
        (
            post(
                &edge,
                "click_id=x",
                &[("Content-Type", "text/plain"), ("Authorization", &auth)],
            ),
            415,
            "unsupported_media_type",
        ),
        (
            request(edge.port, "PUT", "/v1/conversions", &j, b"{}"),
            405,
            "method_not_allowed",
        ),
        (too_large(&edge), 413, "body_too_large"),
    ];
    for (r, status, reason) in &cases {
        assert_eq!(r.status, *status, "{reason}: {}", r.text());
        assert_eq!(json(r)["error"], *reason, "{}", r.text());
        assert!(refused(&edge, reason) >= 1.0, "{reason} counted");
    }
    assert_eq!(refused(&edge, "unauthorized"), 2.0);
    // A postback URL's refusal is the same.
    let r = edge.get(
        &format!("/v1/conversions?click_id={id}&event=purchase&key=nope-nope-nope-nope"),
        &[],
    );
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (401, Some("unauthorized"))
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        records(&edge).is_empty(),
        "a refused request stores nothing"
    );
    assert_eq!(edge.metric("clickedge_conversions_accepted_total"), 0.0);
}

#[test]
fn an_acknowledged_conversion_survives_a_sigkill_and_its_retry_after_the_restart_is_a_duplicate() {
    let mut edge = edge();
    let id = click(&edge);
    let body = format!(
        r#"{{"click_id":"{id}","event":"purchase","value":19.90,"currency":"EUR","txn":"{TXN}"}}"#
    );
    let r = post_json(&edge, &body);
    assert_eq!(r.status, 202, "{}", r.text());
    let a = json(&r);
    assert_eq!(a["duplicate"], false);
    // Killed at once: no shutdown, no flush but the one before the 202.
    let mut child = edge.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = records(&edge);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["conversion_id"], a["conversion_id"]);
    assert_eq!(stored[0]["value"], "19.9");
    assert_eq!(stored[0]["source"], "shop");
    edge.restart(&[]);
    let r = post_json(&edge, &body);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(json(&r)["duplicate"], true, "seen on disk at start");
    assert_eq!(json(&r)["conversion_id"], a["conversion_id"]);
    assert_eq!(records(&edge).len(), 1, "a retry writes nothing");
    assert_eq!(edge.metric("clickedge_conversions_duplicate_total"), 1.0);
}

#[test]
fn arrays_and_postback_urls_are_answered_record_by_record() {
    let edge = edge();
    let id = click(&edge);
    let r = post_json(
        &edge,
        &format!(
            r#"[{{"click_id":"{id}","event":"signup"}},{{"click_id":"{id}","event":"purchase","txn":"A1","value":"5","currency":"usd"}},{{"click_id":"{id}","event":"signup"}}]"#
        ),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let a = json(&r);
    let dup: Vec<bool> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["duplicate"].as_bool().unwrap())
        .collect();
    assert_eq!(
        dup,
        [false, false, true],
        "the third repeats the first: {a}"
    );
    // One bad record refuses the whole array, naming it.
    let r = post_json(
        &edge,
        &format!(
            r#"[{{"click_id":"{id}","event":"signup"}},{{"click_id":"{id}","event":"nope"}}]"#
        ),
    );
    assert_eq!((r.status, json(&r)["index"].as_u64()), (400, Some(1)));
    // A postback URL, keyed by its `key` field, as networks send them.
    let r = edge.get(
        &format!("/v1/conversions?click_id={id}&event=purchase&txn=B2&value=1.25&currency=EUR&key={OTHER_KEY}&consent=denied"),
        &[],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    // And a form POST.
    let r = post(
        &edge,
        &format!("click_id={id}&event=purchase&txn=C3&key={KEY}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let stored = records(&edge);
    assert_eq!(stored.len(), 4, "{stored:?}");
    let by_source: Vec<(&str, &str)> = stored
        .iter()
        .map(|c| {
            (
                c["source"].as_str().unwrap(),
                c["consent"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(by_source.contains(&("network", "denied")), "{by_source:?}");
    assert!(stored
        .iter()
        .all(|c| c["click_id"] == id.as_str() && c["edge"] == "test-edge"));
    assert_eq!(edge.metric("clickedge_conversions_accepted_total"), 4.0);
}

#[test]
fn without_keys_the_path_is_not_the_edges() {
    let edge = Edge::start();
    let r = edge.get("/v1/conversions?click_id=x&event=purchase", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn check_refuses_a_sensitive_action_and_says_why() {
    let edge = edge();
    let text = std::fs::read_to_string(&edge.config).unwrap()
        + "    hiv_test_booked: {category: lead}\n    consult: {category: lead, label: \"Debt relief consultation\"}\n";
    let cfg = edge.dir.path().join("sensitive.yaml");
    std::fs::write(&cfg, text).unwrap();
    let (code, out) = check(&cfg);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("conversions.actions.hiv_test_booked") && out.contains("health"),
        "{out}"
    );
    assert!(
        out.contains("conversions.actions.consult") && out.contains("negative financial status"),
        "{out}"
    );
    // An operator's list adds terms to the shipped one; a bad line is named.
    let terms = edge.dir.path().join("terms.tsv");
    std::fs::write(&terms, "purchase\thealth\tour own list\n").unwrap();
    let with_terms = std::fs::read_to_string(&edge.config).unwrap().replace(
        "  actions:",
        &format!(
            "  sensitive_term_files: [\"{}\"]\n  actions:",
            terms.display()
        ),
    );
    std::fs::write(&cfg, &with_terms).unwrap();
    let (code, out) = check(&cfg);
    assert_ne!(code, Some(0));
    assert!(
        out.contains("conversions.actions.purchase") && out.contains("our own list"),
        "{out}"
    );
    std::fs::write(&terms, "loyalty\tnot_a_category\tour own\n").unwrap();
    let (code, out) = check(&cfg);
    assert_ne!(code, Some(0));
    assert!(
        out.contains("terms.tsv:1"),
        "a bad term line is named: {out}"
    );
    // The shipped config and this one without the sensitive actions pass.
    let (code, out) = check(&edge.config);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn conversions_ship_to_clickhouse_and_a_retry_sent_to_two_edges_counts_once() {
    let ch = common::clickhouse::ClickHouse::start();
    let url = ch.sink_url();
    let a = Edge::start_with(&conversions(""), &["--sink", &url]);
    let b = Edge::start_edited(
        |c| c.replace("edge_id: test-edge", "edge_id: edge-b") + &conversions(""),
        &["--sink", &url],
    );
    let id = click(&a);
    let body = format!(
        r#"{{"click_id":"{id}","event":"purchase","value":"10.10","currency":"EUR","txn":"{TXN}"}}"#
    );
    let ra = json(&post_json(&a, &body));
    let rb = json(&post_json(&b, &body));
    assert_eq!(
        ra["conversion_id"], rb["conversion_id"],
        "the same key, the same id on every edge"
    );
    assert_eq!(
        (ra["duplicate"].as_bool(), rb["duplicate"].as_bool()),
        (Some(false), Some(false))
    );
    let table = "clickedge.clickedge_conversions";
    let deadline = Instant::now() + Duration::from_secs(30);
    while ch.query(&format!("SELECT count() FROM {table}")).trim() != "2" {
        assert!(
            Instant::now() < deadline,
            "not shipped: {}\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let row = ch.query(&format!(
        "SELECT count(DISTINCT conversion_id), any(value), any(currency), any(source) FROM {table}"
    ));
    assert_eq!(row.trim(), "1\t10.1\tEUR\tshop");
    ch.query(&format!("OPTIMIZE TABLE {table} FINAL"));
    assert_eq!(
        ch.query(&format!("SELECT count() FROM {table}")).trim(),
        "1",
        "the engine collapses the repeat"
    );
    let dump = ch.query(&format!("SELECT * FROM {table} FORMAT JSONEachRow"));
    assert!(!dump.contains(TXN) && !dump.contains(KEY), "{dump}");
    assert!(a.metric("clickedge_conversions_shipped_total") >= 1.0);
}

#[test]
fn conversions_ship_to_the_http_sink_marked_as_their_stream() {
    let (url, got) = receiver(0);
    let edge = Edge::start_with(&conversions(""), &["--sink", &url]);
    let id = click(&edge);
    assert_eq!(
        post_json(&edge, &format!(r#"{{"click_id":"{id}","event":"signup"}}"#)).status,
        202
    );
    // One click and one conversion, in two requests marked by stream.
    wait_received(&got, 2);
    let got = got.lock().unwrap();
    let conv: Vec<_> = got
        .iter()
        .filter(|(h, _)| h.get("x-clickedge-stream").map(String::as_str) == Some("conversions"))
        .collect();
    assert_eq!(conv.len(), 1, "{got:?}");
    assert_eq!(conv[0].1[0]["click_id"], id.as_str());
    assert_eq!(conv[0].1[0]["event"], "signup");
}

#[test]
fn no_secret_email_or_raw_txn_reaches_a_log_a_metric_or_a_record() {
    let mut edge = Edge::start_with(&conversions(""), &[]);
    let id = click(&edge);
    // Accepted, refused for personal data, refused for a wrong key: every
    // path the secret, the e-mail address and the txn can take.
    let ok = post_json(
        &edge,
        &format!(r#"{{"click_id":"{id}","event":"purchase","txn":"{TXN}"}}"#),
    );
    assert_eq!(ok.status, 202);
    assert_eq!(
        post_json(
            &edge,
            &format!(r#"{{"click_id":"{id}","event":"{EMAIL}"}}"#)
        )
        .status,
        400
    );
    let _ = edge.get(
        &format!("/v1/conversions?click_id={id}&event=purchase&txn={TXN}&key={KEY}x"),
        &[],
    );
    let _ = edge.get(
        &format!("/v1/conversions?click_id={id}&event=purchase&txn={TXN}&key={KEY}"),
        &[],
    );
    let metrics = edge.metrics();
    edge.stop();
    let mut everything = edge.log() + &metrics;
    for entry in walk(&edge.data()) {
        everything += &String::from_utf8_lossy(&std::fs::read(entry).unwrap());
    }
    for secret in [KEY, OTHER_KEY, TXN, EMAIL, "txn-hash-key-for-tests-0123"] {
        assert!(
            !everything.contains(secret),
            "{secret:?} was written somewhere"
        );
    }
    assert!(everything.contains(&id), "the records were read");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// The order of the edge's own system calls, seen by strace: the record's
/// write, then its fdatasync, then the `202` on the socket. (A SIGKILL
/// keeps what the kernel holds; only this shows the sync came first.)
#[test]
fn the_202_is_sent_only_after_the_record_is_synced() {
    let edge = edge();
    let id = click(&edge);
    let trace = edge.dir.path().join("trace.txt");
    let mut strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-p",
            &edge.pid().to_string(),
            "-e",
            "trace=fdatasync,fsync,write,writev,sendto,sendmsg",
            "-s",
            "48",
            "-o",
        ])
        .arg(&trace)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect(
            "strace is needed for this test (apt-get install -y strace; .ci/test-deps installs it)",
        );
    // Attached once it has written its first line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&trace).map_or(0, |m| m.len()) == 0 {
        let _ = edge.get("/healthz", &[]);
        assert!(Instant::now() < deadline, "strace did not attach");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let r = post_json(
        &edge,
        &format!(r#"{{"click_id":"{id}","event":"purchase"}}"#),
    );
    assert_eq!(r.status, 202);
    std::thread::sleep(Duration::from_millis(300));
    let _ = strace.kill();
    let _ = strace.wait();
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = |what: &dyn Fn(&str) -> bool| lines.iter().position(|l| what(l));
    let written = at(&|l| l.contains("write(") && l.contains("conversion_id"))
        .unwrap_or_else(|| panic!("no record write:\n{text}"));
    let fd = lines[written]
        .split("write(")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let synced = lines[written..]
        .iter()
        .position(|l| l.contains(&format!("fdatasync({fd}")) || l.contains(&format!("fsync({fd}")))
        .map(|i| i + written)
        .unwrap_or_else(|| panic!("the record's file was never synced:\n{text}"));
    let answered =
        at(&|l| l.contains("HTTP/1.1 202")).unwrap_or_else(|| panic!("no 202 seen:\n{text}"));
    assert!(
        written < synced && synced < answered,
        "write {written}, sync {synced}, 202 {answered}:\n{text}"
    );
}

#[test]
fn check_with_a_sink_names_the_conversions_table_it_lacks() {
    let ch = common::clickhouse::ClickHouse::start();
    ch.query("DROP TABLE clickedge.clickedge_conversions");
    let edge = edge();
    let cfg = edge.dir.path().join("with-sink.yaml");
    let text = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(&cfg, format!("{text}sink:\n  url: \"{}\"\n", ch.sink_url())).unwrap();
    let (code, out) = check(&cfg);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("clickedge.clickedge_conversions")
            && out.contains("conf/clickhouse/conversions.sql"),
        "{out}"
    );
    for stmt in common::clickhouse::sql_statements("conf/clickhouse/conversions.sql") {
        ch.query(&stmt);
    }
    let (code, out) = check(&cfg);
    assert_eq!(code, Some(0), "{out}");
}
