//! What is written for each privacy mode and opt-out signal, and that no
//! address, e-mail address or phone number survives where it must not.

mod common;
use common::*;

const EMAIL: &str = "jane.doe@example.com";
const PHONE: &str = "+14155550100";

fn edge_with(privacy: &str) -> Edge {
    Edge::start_with(
        &format!("privacy:\n{privacy}ivt:\n  duplicate_window_seconds: 0\n"),
        &[],
    )
}

/// One click carrying personal data everywhere it can, from 127.0.0.1.
fn click(edge: &Edge, extra: &[(&str, &str)], sign_args: &[&str]) -> (Response, String) {
    let landing = format!("https://shop.example/p?email={EMAIL}&tel={PHONE}");
    let mut args = vec!["--landing", landing.as_str(), "--campaign", "c"];
    args.extend_from_slice(sign_args);
    let url = edge.sign(&args);
    // (An e-mail address in a user agent is a bot sign on the default list;
    // its scrubbing is unit-tested in privacy.rs.)
    let ua = format!("{BROWSER_UA} MyApp/1.0 (phone {PHONE})");
    let referer = format!("https://news.example/a?mail={EMAIL}&phone={PHONE}");
    let mut h = vec![("User-Agent", ua.as_str()), ("Referer", referer.as_str())];
    h.extend_from_slice(extra);
    let n = edge.events().len();
    let r = edge.get(&url, &h);
    let ev = edge.wait_events(n + 1);
    let line = serde_json::to_string(&ev[n]).unwrap();
    (r, line)
}

fn assert_no_personal_data(line: &str) {
    for bad in [EMAIL, "jane", "example.com", "4155550100", "127.0.0.1"] {
        assert!(!line.contains(bad), "{bad:?} written in {line}");
    }
}

#[test]
fn default_truncates_and_scrubs_but_the_redirect_is_untouched() {
    let edge = Edge::start();
    let (r, line) = click(&edge, &[], &[]);
    assert_eq!(r.status, 302);
    // The user's redirect keeps its parameters.
    assert!(
        r.header("location")
            .unwrap()
            .contains(&format!("email={}", EMAIL.replace('@', "%40")))
            || r.header("location").unwrap().contains(EMAIL)
    );
    let e: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(e["ip"], "127.0.0.0");
    assert_eq!(e["referrer_host"], "news.example");
    assert!(e["user_agent"].as_str().unwrap().contains("[scrubbed]"));
    assert!(e.get("ip_full").is_none());
    assert_no_personal_data(&line);
}

#[test]
fn hash_mode_writes_a_keyed_hash() {
    let edge = edge_with("  ip_mode: hash\n  ip_hash_secret: \"shared-by-all-edges-0123\"\n");
    let (_, a) = click(&edge, &[], &[]);
    let (_, b) = click(&edge, &[], &[]);
    let (ea, eb): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    let h = ea["ip"].as_str().unwrap();
    assert!(h.starts_with("h:") && h.len() == 26, "{h}");
    assert_eq!(ea["ip"], eb["ip"], "same address, same period, same hash");
    assert_no_personal_data(&a);
}

#[test]
fn full_mode_keeps_the_address_apart() {
    let edge = edge_with("  ip_mode: full\n");
    let (_, line) = click(&edge, &[], &[]);
    let e: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(e["ip"], "127.0.0.0");
    assert_eq!(e["ip_full"], "127.0.0.1");
}

#[test]
fn none_mode_writes_no_address() {
    let edge = edge_with("  ip_mode: none\n");
    let (_, line) = click(&edge, &[], &[]);
    let e: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(e["ip"], "");
    assert_no_personal_data(&line);
}

fn assert_opted_out(r: &Response, line: &str) {
    assert_eq!(r.status, 302, "still redirected");
    let e: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(e["verdict"], "valid", "still counted");
    assert_eq!(e["ip"], "");
    assert_eq!(e["referrer_host"], "");
    assert_eq!(e["user_agent"], "desktop", "only the device class");
    assert_eq!(e["device"], "desktop");
    assert!(e.get("ip_full").is_none());
    assert_no_personal_data(line);
    assert!(
        !line.contains("news.example") && !line.contains("MyApp"),
        "{line}"
    );
}

#[test]
fn gpc_dnt_and_child_directed_write_nothing_personal() {
    let edge = edge_with("  ip_mode: full\n");
    let (r, line) = click(&edge, &[("Sec-GPC", "1")], &[]);
    assert_opted_out(&r, &line);
    let (r, line) = click(&edge, &[("DNT", "1")], &[]);
    assert_opted_out(&r, &line);
    let (r, line) = click(&edge, &[], &["--child-directed"]);
    assert_opted_out(&r, &line);
    // DNT: 0 is not an opt-out.
    let (_, line) = click(&edge, &[("DNT", "0")], &[]);
    assert!(line.contains("\"ip_full\":\"127.0.0.1\""));
}

#[test]
fn opt_out_headers_are_configurable() {
    let edge = edge_with("  opt_out_headers: [sec-gpc]\n");
    let (_, line) = click(&edge, &[("DNT", "1")], &[]);
    assert!(
        line.contains("\"ip\":\"127.0.0.0\""),
        "DNT no longer honoured: {line}"
    );
    let (r, line) = click(&edge, &[("Sec-GPC", "1")], &[]);
    assert_opted_out(&r, &line);
}
