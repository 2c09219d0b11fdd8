//! The decision table of the click core, without a server: every path and
//! method, every refusal kind, every reason and its precedence, every
//! action, each privacy mode and opt-out signal.

use super::*;
use crate::click::{Keys, SignRequest};
use crate::config::{Config, IpMode};
use crate::ivt::IpSet;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

const SECRET: &str = "core-test-secret-0123456789abcdef";
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const PERSON: &str = "198.18.7.9";

fn config(extra: &str) -> Config {
    Config::parse(&format!(
        "edge_id: e1\nsigning:\n  keys: [{{id: k1, secret: {SECRET}}}]\n\
         ivt:\n  internal_ips: [10.0.0.0/8]\n  datacenter_ips: [203.0.113.0/24]\n{extra}"
    ))
    .unwrap()
}

fn decider_with(extra: &str, mode: IpMode) -> Decider {
    let cfg = config(extra);
    let mut policy = Policy::load(&cfg).map_err(|p| p.lines()).unwrap();
    policy.ivt.bot_ips = IpSet::parse("192.0.2.0/24").unwrap();
    let privacy = Privacy::new(mode, "hash-secret", 24, &cfg.privacy.opt_out_headers);
    let s = DeciderSettings {
        clickid_param: "clickid".into(),
        robots_txt: !extra.contains("robots_txt: false"),
        edge_id: "e1".into(),
        duplicate_window: Duration::from_secs(60),
        duplicate_max_entries: 1000,
    };
    Decider::new(policy, privacy, &s)
}

fn decider() -> Decider {
    decider_with("", IpMode::Truncate)
}

fn query(imp: &str, publisher: Option<&str>, test: bool, child_directed: bool) -> String {
    let keys = Keys::new([("k1", SECRET.as_bytes())]);
    let req = SignRequest {
        landing: "https://shop.example/p?a=1#top",
        campaign: "c1",
        impression: imp,
        publisher,
        test,
        child_directed,
        expires: None,
    };
    click::sign(&keys, "k1", &req, 4096).unwrap()[3..].to_string()
}

fn q(imp: &str) -> String {
    query(imp, None, false, false)
}

/// A time with whole milliseconds, and its monotonic twin.
fn at(secs: u64) -> Now {
    Now {
        wall: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + secs * 1000),
        mono: START.with(|s| *s) + Duration::from_secs(secs),
    }
}

thread_local! {
    static START: Instant = Instant::now() + Duration::from_secs(1);
}

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    ip: &'a str,
    secure: bool,
}

fn get<'a>(path: &'a str, query: &'a str) -> Req<'a> {
    Req {
        method: "GET",
        path,
        query,
        headers: vec![("user-agent", UA)],
        ip: PERSON,
        secure: false,
    }
}

impl<'a> Req<'a> {
    fn method(mut self, m: &'a str) -> Self {
        self.method = m;
        self
    }
    fn header(mut self, k: &'a str, v: &'a str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        self.headers.push((k, v));
        self
    }
    fn ip(mut self, ip: &'a str) -> Self {
        self.ip = ip;
        self
    }
    /// Over this server's own TLS listener.
    fn secure(mut self) -> Self {
        self.secure = true;
        self
    }
    fn decide(&self, core: &Decider, now: Now) -> Decision {
        let ip: IpAddr = self.ip.parse().unwrap();
        core.decide(
            &Request {
                method: self.method,
                path: self.path,
                query: self.query,
                headers: &self.headers,
                client_ip: Some(ip),
                secure: self.secure,
            },
            now,
        )
    }
    /// The answer, which must exist.
    fn answer(&self, core: &Decider, now: Now) -> Answer {
        match self.decide(core, now) {
            Decision::Answer(a) => a,
            Decision::Pass => panic!("passed {}", self.path),
        }
    }
}

fn event(a: &Answer) -> serde_json::Value {
    serde_json::from_slice(a.event.as_ref().expect("an event")).unwrap()
}

/// (status, verdict, reason, action) of a click.
fn row(a: &Answer) -> (u16, String, String, String) {
    let e = event(a);
    let s = |k: &str| e[k].as_str().unwrap().to_string();
    (a.status, s("verdict"), s("reason"), s("action"))
}

fn r(status: u16, verdict: &str, reason: &str, action: &str) -> (u16, String, String, String) {
    (status, verdict.into(), reason.into(), action.into())
}

#[test]
fn paths_that_are_not_the_edges_pass() {
    let c = decider();
    for path in ["/", "/cars", "/c/", "/b/x", "/metrics"] {
        assert!(
            matches!(get(path, "").decide(&c, at(0)), Decision::Pass),
            "{path}"
        );
    }
}

#[test]
fn robots_and_health_are_pages() {
    let c = decider();
    let a = get("/robots.txt", "").answer(&c, at(0));
    assert_eq!((a.status, a.text.as_deref()), (200, Some(ROBOTS_TXT)));
    assert_eq!(a.outcome, Outcome::Page);
    assert!(a.event.is_none() && !a.outcome.is_click());
    let a = get("/healthz", "").answer(&c, at(0));
    assert_eq!((a.status, a.text.as_deref()), (200, Some("ok\n")));
    let off = decider_with("click:\n  robots_txt: false\n", IpMode::Truncate);
    assert!(matches!(
        get("/robots.txt", "").decide(&off, at(0)),
        Decision::Pass
    ));
}

#[test]
fn methods_each_path_takes() {
    let c = decider();
    let query = q("m");
    for (path, method, allow) in [
        ("/c", "PUT", "GET, HEAD, POST"),
        ("/c", "DELETE", "GET, HEAD, POST"),
        ("/b", "HEAD", "GET, POST"),
        ("/b", "DELETE", "GET, POST"),
    ] {
        let a = get(path, &query).method(method).answer(&c, at(0));
        assert_eq!((a.status, a.allow), (405, Some(allow)), "{method} {path}");
        assert_eq!(a.outcome, Outcome::BadMethod);
        assert!(a.event.is_none());
    }
    let a = get("/b", &query).method("POST").answer(&c, at(0));
    assert!(a.read_body && a.status == 204);
    // A parallel-tracking beacon on /c: the same 302, its body read.
    let a = get("/c", &q("m-post")).method("POST").answer(&c, at(0));
    assert!(a.read_body && a.status == 302 && a.location.is_some());
    assert_eq!(event(&a)["method"], "POST");
    let a = get("/b", &q("m2")).answer(&c, at(0));
    assert!(!a.read_body);
}

#[test]
fn refusals_are_4xx_with_a_reason_and_no_event() {
    let c = decider();
    let good = q("i");
    let tampered = good.replacen("cmp=c1", "cmp=c2", 1);
    for (query, status, refusal) in [
        (tampered.as_str(), 403, ClickError::BadSignature),
        (
            "u=https%3A%2F%2Fx.example%2F&cmp=c&imp=i",
            403,
            ClickError::MissingSignature,
        ),
        (
            "u=x&cmp=c&imp=i&kid=k9&sig=abc",
            403,
            ClickError::UnknownKey,
        ),
        ("cmp=c&imp=i&kid=k1&sig=x&u=y", 403, ClickError::SigNotLast),
    ] {
        let a = get("/c", query).answer(&c, at(0));
        assert_eq!(a.status, status, "{query}");
        assert_eq!(a.outcome, Outcome::Refused(refusal));
        assert_eq!(a.text.as_deref(), Some(format!("{refusal}\n").as_str()));
        assert!(a.event.is_none() && a.location.is_none() && a.outcome.is_click());
    }
    let keys = Keys::new([("k1", SECRET.as_bytes())]);
    let signed_bad = "u=javascript%3Aalert(1)&cmp=c&imp=i&kid=k1";
    let signed_bad = format!(
        "{signed_bad}&sig={}",
        keys.sign("k1", signed_bad.as_bytes()).unwrap()
    );
    let a = get("/c", &signed_bad).answer(&c, at(0));
    assert_eq!(
        (a.status, a.outcome),
        (400, Outcome::Refused(ClickError::BadLanding))
    );
}

#[test]
fn a_valid_click_is_redirected_with_its_click_id() {
    let c = decider();
    let a = get("/c", &q("v"))
        .header("referer", "https://News.example/a?email=x@y.z")
        .answer(&c, at(5));
    assert_eq!(row(&a), r(302, "valid", "", "redirected"));
    assert_eq!(
        a.outcome,
        Outcome::Click {
            reason: None,
            action: Action::Redirected
        }
    );
    let e = event(&a);
    let loc = a.location.as_deref().unwrap();
    assert_eq!(
        loc,
        format!(
            "https://shop.example/p?a=1&clickid={}#top",
            e["click_id"].as_str().unwrap()
        )
    );
    assert!(a.text.is_none() && !a.read_body);
    for (field, want) in [
        ("ts", "2023-11-14T22:13:25.000Z"),
        ("campaign", "c1"),
        ("impression", "v"),
        ("landing_host", "shop.example"),
        ("method", "GET"),
        ("ip", "198.18.7.0"),
        ("user_agent", UA),
        ("device", "desktop"),
        ("referrer_host", "news.example"),
        ("edge", "e1"),
    ] {
        assert_eq!(e[field], want, "{field}");
    }
    assert!(e.get("ip_full").is_none());
}

#[test]
fn every_reason_with_the_default_actions() {
    let c = decider();
    let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let cases: Vec<(Req, (u16, String, String, String))> = vec![
        (
            get("/c", "").header("sec-purpose", "prefetch"),
            r(503, "invalid", "prefetch", "blocked"),
        ),
        (
            get("/c", "").header("user-agent", bot),
            r(403, "invalid", "known_bot", "blocked"),
        ),
        (
            get("/c", "").ip("192.0.2.44"),
            r(403, "invalid", "known_bot", "blocked"),
        ),
        (
            get("/c", "").header("user-agent", "Barracuda Sentinel (EE)"),
            r(302, "invalid", "link_scanner", "redirected"),
        ),
        (
            get("/c", "").header("user-agent", ""),
            r(302, "invalid", "non_browser", "redirected"),
        ),
        (
            get("/c", "").method("HEAD"),
            r(302, "invalid", "head_request", "redirected"),
        ),
        (
            get("/c", "").ip("10.1.2.3"),
            r(302, "invalid", "internal_ip", "redirected"),
        ),
        (
            get("/c", "").ip("203.0.113.9"),
            r(302, "invalid", "datacenter_ip", "redirected"),
        ),
        (
            get("/b", "").header("user-agent", ""),
            r(204, "invalid", "non_browser", "beacon"),
        ),
        (
            get("/b", "").header("user-agent", bot),
            r(403, "invalid", "known_bot", "blocked"),
        ),
    ];
    for (i, (mut req, want)) in cases.into_iter().enumerate() {
        let query = q(&format!("r{i}"));
        req.query = &query;
        let a = req.answer(&c, at(0));
        assert_eq!(row(&a), want, "case {i}");
        assert_eq!(a.location.is_some(), want.0 == 302, "case {i}");
        assert!(a.text.is_none(), "case {i}: no body on a click's answer");
    }
    let test = query("t", None, true, false);
    assert_eq!(
        row(&get("/c", &test).answer(&c, at(0))),
        r(302, "test", "test_click", "redirected")
    );
    // Each invalid click names its rule; a valid one has none.
    let rule = |req: Req| event(&req.answer(&c, at(0)))["rule"].clone();
    let (q1, q2, q3, q4) = (q("rule1"), q("rule2"), q("rule3"), q("rule4"));
    assert_eq!(
        rule(get("/c", &q1).ip("203.0.113.9")),
        "datacenter:203.0.113.0/24"
    );
    assert_eq!(
        rule(get("/c", &q2).header("x-moz", "prefetch")),
        "prefetch:x-moz"
    );
    let scanner = rule(get("/c", &q3).header("user-agent", "Barracuda Sentinel (EE)"));
    assert!(
        scanner.as_str().unwrap().starts_with("link-scanners:"),
        "{scanner}"
    );
    assert_eq!(rule(get("/c", &q4)), serde_json::Value::Null);
    // A known bot's device is `bot`, whatever its agent looks like.
    let a = get("/c", &q("dev"))
        .header("user-agent", bot)
        .answer(&c, at(0));
    assert_eq!(event(&a)["device"], "bot");
}

#[test]
fn duplicates_within_the_window_only_after_a_counted_click() {
    let c = decider();
    let query = q("d");
    let first = get("/c", &query).answer(&c, at(0));
    assert_eq!(row(&first), r(302, "valid", "", "redirected"));
    assert_eq!(
        row(&get("/c", &query).answer(&c, at(59))),
        r(302, "invalid", "duplicate", "redirected")
    );
    assert_eq!(
        row(&get("/b", &query).answer(&c, at(59))),
        r(204, "invalid", "duplicate", "beacon")
    );
    // The window is measured from the counted click, on the monotonic clock.
    assert_eq!(
        row(&get("/c", &query).answer(&c, at(61))),
        r(302, "valid", "", "redirected")
    );
    // An invalid click opens no window: the person after the bot counts.
    let other = q("d2");
    let bot = get("/c", &other).header("user-agent", "");
    assert_eq!(
        row(&bot.answer(&c, at(0))),
        r(302, "invalid", "non_browser", "redirected")
    );
    assert_eq!(
        row(&get("/c", &other).answer(&c, at(1))),
        r(302, "valid", "", "redirected")
    );
    // Any other reason wins over duplicate (it is last in precedence).
    assert_eq!(
        row(&get("/c", &other).method("HEAD").answer(&c, at(2))),
        r(302, "invalid", "head_request", "redirected")
    );
}

#[test]
fn precedence_follows_the_declaration() {
    let c = decider();
    // Prefetch from a data center with an empty agent, HEAD, test: prefetch.
    let test = query("p", None, true, false);
    let all = get("/c", &test)
        .method("HEAD")
        .header("user-agent", "")
        .header("purpose", "prefetch")
        .ip("203.0.113.1");
    assert_eq!(row(&all.answer(&c, at(0))).2, "prefetch");
    let no_prefetch = get("/c", &test)
        .method("HEAD")
        .header("user-agent", "")
        .ip("203.0.113.1");
    assert_eq!(row(&no_prefetch.answer(&c, at(0))).2, "non_browser");
    let browser = get("/c", &test).method("HEAD").ip("203.0.113.1");
    assert_eq!(row(&browser.answer(&c, at(0))).2, "head_request");
    let get_ = get("/c", &test).ip("203.0.113.1");
    assert_eq!(row(&get_.answer(&c, at(0))).2, "datacenter_ip");
    assert_eq!(row(&get("/c", &test).answer(&c, at(0))).2, "test_click");
}

#[test]
fn actions_from_the_config() {
    let c = decider_with(
        "  actions:\n    known_bot: flag\n    head_request: block\n    duplicate: block\n",
        IpMode::Truncate,
    );
    let bot = "curl/8.5.0";
    assert_eq!(
        row(&get("/c", &q("a1"))
            .header("user-agent", bot)
            .answer(&c, at(0))),
        r(302, "invalid", "known_bot", "redirected")
    );
    assert_eq!(
        row(&get("/c", &q("a2")).method("HEAD").answer(&c, at(0))),
        r(403, "invalid", "head_request", "blocked")
    );
    let query = q("a3");
    get("/c", &query).answer(&c, at(0));
    let dup = get("/b", &query).answer(&c, at(1));
    assert_eq!(row(&dup), r(403, "invalid", "duplicate", "blocked"));
    assert!(dup.location.is_none());
}

#[test]
fn the_header_consistency_signal_flags_and_never_blocks() {
    // Even where an operator blocks non_browser, this signal only flags.
    let c = decider_with(
        "  header_consistency: true\n  actions:\n    non_browser: block\n",
        IpMode::Truncate,
    );
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let bare = get("/c", &q("h1"))
        .header("user-agent", chrome)
        .secure()
        .answer(&c, at(0));
    assert_eq!(row(&bare), r(302, "invalid", "non_browser", "redirected"));
    assert_eq!(
        event(&bare)["rule"],
        "headers:chromium-without-sec-fetch-or-client-hints"
    );
    let browser = get("/c", &q("h2"))
        .header("user-agent", chrome)
        .header("sec-fetch-mode", "navigate")
        .secure()
        .answer(&c, at(0));
    assert_eq!(row(&browser), r(302, "valid", "", "redirected"));
    // Over plain HTTP the browser sends none of them: nothing is read into it.
    let plain = get("/c", &q("h3"))
        .header("user-agent", chrome)
        .answer(&c, at(0));
    assert_eq!(row(&plain), r(302, "valid", "", "redirected"));
    // The other non_browser signals still block where the operator says so.
    let empty = get("/c", &q("h4"))
        .header("user-agent", "")
        .secure()
        .answer(&c, at(0));
    assert_eq!(row(&empty), r(403, "invalid", "non_browser", "blocked"));
}

#[test]
fn privacy_modes_write_what_they_promise() {
    let ip = |mode: IpMode| {
        let c = decider_with("", mode);
        let e = event(&get("/c", &q("p")).answer(&c, at(0)));
        (
            e["ip"].as_str().unwrap().to_string(),
            e.get("ip_full").map(|v| v.as_str().unwrap().to_string()),
        )
    };
    assert_eq!(ip(IpMode::Truncate), ("198.18.7.0".into(), None));
    assert_eq!(ip(IpMode::None), ("".into(), None));
    assert_eq!(ip(IpMode::Full), ("198.18.7.0".into(), Some(PERSON.into())));
    let (hash, full) = ip(IpMode::Hash);
    assert!(
        hash.starts_with("h:") && hash.len() == 26 && full.is_none(),
        "{hash}"
    );
    // The same key and period: the same hash, in another core too.
    assert_eq!(ip(IpMode::Hash).0, hash);
}

#[test]
fn opting_out_keeps_the_click_and_drops_the_person() {
    let c = decider_with("", IpMode::Full);
    let opted = |req: Req| {
        let a = req
            .header("referer", "https://news.example/")
            .answer(&c, at(0));
        assert_eq!(a.status, 302);
        let e = event(&a);
        assert_eq!(e["verdict"], "valid");
        assert_eq!(e["ip"], "");
        assert!(e.get("ip_full").is_none());
        assert_eq!(e["referrer_host"], "");
        assert_eq!(e["user_agent"], "desktop");
    };
    opted(get("/c", &q("o1")).header("sec-gpc", "1"));
    opted(get("/c", &q("o2")).header("DNT", " 1 "));
    let cd = query("o3", None, false, true);
    opted(get("/c", &cd));
    // `0` is no opt-out.
    let e = event(&get("/c", &q("o4")).header("sec-gpc", "0").answer(&c, at(0)));
    assert_eq!(e["ip"], "198.18.7.0");
}

#[test]
fn personal_data_in_the_user_agent_is_scrubbed() {
    let c = decider();
    let ua = "Mozilla/5.0 (Linux; Android 14) MyApp/3.2 (user=jane.doe@example.com; tel +1 415-555-0100)";
    let e = event(
        &get("/c", &q("s"))
            .header("user-agent", ua)
            .answer(&c, at(0)),
    );
    let logged = e["user_agent"].as_str().unwrap();
    assert!(
        !logged.contains("jane") && !logged.contains("555"),
        "{logged}"
    );
    assert!(logged.contains("MyApp/3.2"));
}

#[test]
fn device_class_reads_client_hints() {
    let c = decider();
    let e = event(
        &get("/c", &q("h"))
            .header("sec-ch-ua-mobile", "?1")
            .answer(&c, at(0)),
    );
    assert_eq!(e["device"], "mobile");
}

#[test]
fn the_publisher_is_logged_when_given() {
    let c = decider();
    let with = query("pb", Some("pub-7"), false, false);
    assert_eq!(
        event(&get("/c", &with).answer(&c, at(0)))["publisher"],
        "pub-7"
    );
    assert_eq!(
        event(&get("/c", &q("pb2")).answer(&c, at(0)))["publisher"],
        ""
    );
}

fn template_query(gclid: Option<&str>, expires: Option<u64>) -> String {
    let keys = Keys::new([("k1", SECRET.as_bytes())]);
    let hosts = vec!["shop.example".to_string()];
    let req = click::TemplateRequest {
        platform: click::Platform::Google,
        campaign: "tc",
        publisher: None,
        landing_hosts: &hosts,
        expires,
    };
    let t = click::sign_template(&keys, "k1", &req, &click::ClickPolicy::default()).unwrap();
    let t = t[3..].replace("{lpurl}", "https%3A%2F%2Fshop.example%2Fp");
    match gclid {
        Some(id) => t.replace("{gclid}", id),
        None => t.replace("&gclid={gclid}", ""),
    }
}

#[test]
fn a_template_click_logs_the_platforms_id_and_is_deduplicated_by_it() {
    let c = decider();
    let first = template_query(Some("G-1"), None);
    let a = get("/c", &first).method("POST").answer(&c, at(0));
    assert_eq!(row(&a), r(302, "valid", "", "redirected"));
    let e = event(&a);
    assert_eq!(e["platform_click_param"], "gclid");
    assert_eq!(e["platform_click_id"], "G-1");
    assert_eq!(e["impression"], "");
    assert_eq!(e["method"], "POST");
    assert!(a
        .location
        .as_deref()
        .unwrap()
        .starts_with("https://shop.example/p?clickid="));
    // The same platform click again, as a beacon or a click: a duplicate.
    assert_eq!(
        row(&get("/c", &first).method("POST").answer(&c, at(5))).2,
        "duplicate"
    );
    assert_eq!(row(&get("/c", &first).answer(&c, at(6))).2, "duplicate");
    // Another platform click on the same campaign is not.
    assert_eq!(
        row(&get("/c", &template_query(Some("G-2"), None)).answer(&c, at(7))).1,
        "valid"
    );
    // A classic click's event has no platform fields at all.
    let classic = event(&get("/c", &q("cl")).answer(&c, at(0)));
    assert!(
        classic.get("platform_click_param").is_none() && classic.get("platform_click_id").is_none()
    );
}

#[test]
fn without_impression_or_platform_id_the_address_and_agent_are_the_key() {
    let c = decider();
    let bare = template_query(None, None);
    assert_eq!(row(&get("/c", &bare).answer(&c, at(0))).1, "valid");
    assert_eq!(row(&get("/c", &bare).answer(&c, at(1))).2, "duplicate");
    assert_eq!(
        row(&get("/c", &bare).ip("198.18.7.10").answer(&c, at(2))).1,
        "valid"
    );
    let other_agent = get("/c", &bare).header(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    );
    assert_eq!(row(&other_agent.answer(&c, at(3))).1, "valid");
}

#[test]
fn an_expired_url_is_redirected_and_logged_expired() {
    let c = decider();
    // at(0) is 2023-11-14T22:13:20Z, 1_700_000_000.
    let expired = template_query(Some("G-exp"), Some(1_700_000_000));
    assert_eq!(
        row(&get("/c", &expired).answer(&c, at(0))),
        r(302, "invalid", "expired", "redirected")
    );
    let live = template_query(Some("G-live"), Some(1_700_000_001));
    assert_eq!(row(&get("/c", &live).answer(&c, at(0))).1, "valid");
    // Other reasons come first; a test click past its time is expired.
    let keys = Keys::new([("k1", SECRET.as_bytes())]);
    let req = SignRequest {
        landing: "https://shop.example/",
        campaign: "c1",
        impression: "ex",
        test: true,
        expires: Some(1),
        ..SignRequest::default()
    };
    let classic = click::sign(&keys, "k1", &req, 4096).unwrap()[3..].to_string();
    assert_eq!(row(&get("/c", &classic).answer(&c, at(0))).2, "expired");
    assert_eq!(
        row(&get("/c", &classic).method("HEAD").answer(&c, at(0))).2,
        "head_request"
    );
}

/// User agents of every kind the lists and the device classes know.
const AGENTS: &[&str] = &[
    UA,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "",
    "Mozilla/5.0 (Linux; Android 14) MyApp/3.2 (user=jane.doe@example.com; clientip=203.0.113.77)",
];

#[test]
fn the_user_agent_cache_never_changes_a_verdict() {
    let c = decider();
    let policy = c.policy.load();
    for round in 0..3 {
        for ua in AGENTS {
            assert_eq!(
                c.user_agent_facts(&policy, ua),
                c.compute_facts(&policy, ua),
                "round {round}: {ua}"
            );
        }
    }
    // A reload (a new policy) is not answered from the old one's facts.
    let mut cfg = config("");
    cfg.ivt.bots.builtin = false;
    let plain = Policy::load(&cfg).unwrap();
    c.policy_slot().store(std::sync::Arc::new(plain));
    let reloaded = c.policy.load();
    let bot = AGENTS[4];
    assert_eq!(
        c.user_agent_facts(&reloaded, bot).bot,
        None,
        "the builtin list is off now"
    );
    assert_eq!(
        c.user_agent_facts(&policy, bot).bot.map(|(r, _)| r),
        Some(Reason::KnownBot)
    );
}

proptest::proptest! {
    /// Agents looked up in any order, repeated, some sharing a prefix or a
    /// length: each lookup gives that agent's own facts, worked out here
    /// from the lists, the device tokens and the privacy scrubber without
    /// the cache, whether it was a miss or a hit.
    #[test]
    fn every_lookup_gives_that_agents_own_facts_hit_or_miss(
        agents in proptest::collection::vec("\\PC{0,60}|Mozilla/5\\.0 \\([A-Za-z0-9 ;._-]{0,40}\\)[ -~]{0,40}|Googlebot/2\\.[0-9]", 1..12),
        order in proptest::collection::vec(0usize..64, 1..48),
    ) {
        let c = decider();
        let policy = c.policy.load();
        let privacy = Privacy::new(IpMode::Truncate, "hash-secret", 24, &Config::default().privacy.opt_out_headers);
        for i in order {
            let ua = &agents[i % agents.len()];
            let expected = UaFacts {
                bot: policy.ivt.bots.classify_with_rule(ua),
                device_tokens: crate::device::tokens(ua),
                clean: matches!(privacy.user_agent(ua), Cow::Borrowed(_)),
            };
            proptest::prop_assert_eq!(c.user_agent_facts(&policy, ua), expected, "{:?}", ua);
        }
    }
}

#[test]
fn click_ids_are_unique_and_carry_the_clicks_time() {
    let c = decider();
    let mut seen = std::collections::HashSet::new();
    for i in 0..2000 {
        let e = event(&get("/c", &q(&format!("id{i}"))).answer(&c, at(0)));
        let id: uuid::Uuid = e["click_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(id.get_version_num(), 7);
        let (secs, _) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000, "the id's time is the click's");
        assert!(seen.insert(id), "a click id repeated");
    }
}
