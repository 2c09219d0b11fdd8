//! Criterion benches of the click path's pure parts: URL parse and
//! signature check, classification over a realistic user-agent mix (all
//! signals, the shipped open bot list, a data-center list of 5,000
//! networks, the duplicate window), the Location, and event encoding.
//!
//! Run: `cargo bench --bench hot_path` (add `-- classify` for one group).

use clickedge::internals::click::{self, Keys, SignRequest};
use clickedge::internals::config::Config;
use clickedge::internals::device::Device;
use clickedge::internals::event::Event;
use clickedge::internals::ivt::{Action, DuplicateWindow, Reason, Signals, Verdict};
use clickedge::internals::policy::Policy;
use clickedge::internals::privacy::truncate_ip;
use criterion::{criterion_group, criterion_main, Criterion};
use pingora::http::RequestHeader;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// Mostly browsers (desktop, mobile, in-app), some crawlers, previewers,
/// libraries: the shape of a click stream, not a measured one.
const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/490.0.0.36.108;FBBV/123;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/18.1;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.107 Mobile Safari/537.36 Instagram 355.0.0.37.103 Android",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
];

fn policy() -> Policy {
    let mut cfg = Config::parse(include_str!("../conf/clickedge.yaml")).unwrap();
    // 5,000 data-center networks: a list's length must not show in the time.
    cfg.ivt.datacenter_ips = (0..5000)
        .map(|i| format!("{}.{}.{}.0/24", 20 + i / 65536, (i / 256) % 256, i % 256))
        .collect();
    cfg.ivt.internal_ips = vec!["10.0.0.0/8".into(), "fd00::/8".into()];
    // The key the benches sign with.
    cfg.signing
        .keys
        .push(clickedge::internals::config::KeyConfig {
            id: "k1".into(),
            secret: "bench-secret-0123456789abcdef".into(),
        });
    Policy::load(&cfg).unwrap()
}

fn requests() -> Vec<RequestHeader> {
    UAS.iter()
        .map(|ua| {
            let mut r = RequestHeader::build("GET", b"/c?x", None).unwrap();
            r.insert_header("User-Agent", *ua).unwrap();
            r.insert_header("Accept", "text/html,application/xhtml+xml")
                .unwrap();
            r.insert_header("Referer", "https://news.example/article")
                .unwrap();
            // What browsers send to a secure origin (the header-consistency
            // check reads them; the classify bench runs as over TLS).
            r.insert_header("Sec-Fetch-Site", "cross-site").unwrap();
            r.insert_header("Sec-Fetch-Mode", "navigate").unwrap();
            r.insert_header("Sec-Fetch-Dest", "document").unwrap();
            r
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let p = policy();
    let reqs = requests();
    let ips: Vec<IpAddr> = (0..64u32)
        .map(|i| {
            IpAddr::from([
                81,
                2 + (i % 7) as u8,
                (i * 37 % 256) as u8,
                (i * 11 % 256) as u8,
            ])
        })
        .collect();
    let dups = DuplicateWindow::new(Duration::from_secs(60), 1_000_000);
    let imps: Vec<String> = (0..4096).map(|i| format!("imp-{i}")).collect();

    c.bench_function("classify/full_request", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let req = &reqs[i % reqs.len()];
            let ua = req
                .headers
                .get("user-agent")
                .map_or("", |v| v.to_str().unwrap_or(""));
            let mut r = p.ivt.classify(&Signals {
                method: "GET",
                headers: &req.headers,
                user_agent: ua,
                ip: Some(ips[i % ips.len()]),
                test: false,
                expired: false,
                publisher: "",
                secure: true,
            });
            if r.is_none() {
                let key = dups.key("cmp-1", &imps[i % imps.len()]);
                if dups.check_and_record(key, dups.now_ms()) {
                    r = Some(Reason::Duplicate);
                }
            }
            black_box(r)
        })
    });

    let keys = Keys::new([("k1", &b"bench-secret-0123456789abcdef"[..])]);
    let url = click::sign(
        &keys,
        "k1",
        &SignRequest {
            landing: "https://shop.example/spring/collection?utm_source=ads&utm_medium=cpc&utm_campaign=spring",
            campaign: "cmp-2026-spring",
            impression: "01a20782a33e70be83c271aa685e920c",
            publisher: Some("pub-42"),
            test: false, child_directed: false, expires: None,
        },
        4096,
    )
    .unwrap();
    let query = url[3..].to_string();
    let click_policy = clickedge::internals::click::ClickPolicy::new(keys, true, Vec::new(), 4096);
    c.bench_function("click/parse_and_verify", |b| {
        b.iter(|| black_box(click::parse(black_box(&query), &click_policy).is_ok()))
    });
    let parsed = click::parse(&query, &click_policy).unwrap();
    c.bench_function("click/location", |b| {
        b.iter(|| {
            black_box(click::location(
                &parsed.landing,
                "clickid",
                "01a20782-a368-749d-9209-9e66df9c0a13",
            ))
        })
    });
    c.bench_function("device/classify", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(clickedge::internals::device::classify(
                black_box(UAS[i % UAS.len()]),
                None,
            ))
        })
    });
    c.bench_function("privacy/scrub", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(clickedge::internals::privacy::scrub(black_box(UAS[i % UAS.len()])).len())
        })
    });
    c.bench_function("event/encode", |b| {
        b.iter(|| {
            black_box(
                Event {
                    ts: SystemTime::now(),
                    click_id: "01a20782-a368-749d-9209-9e66df9c0a13",
                    campaign: &parsed.campaign,
                    impression: &parsed.impression,
                    publisher: &parsed.publisher,
                    landing_host: parsed.landing_host(),
                    verdict: Verdict::Valid,
                    reason: None,
                    action: Action::Redirected,
                    method: "GET",
                    ip: clickedge::internals::event::IpField::Addr(truncate_ip(ips[3])),
                    user_agent: UAS[0],
                    device: Device::Desktop,
                    country: "",
                    referrer_host: "news.example",
                    edge: "edge-1",
                    ip_full: None,
                    platform: None,
                    rule: None,
                    data_use: clickedge::internals::event::DataUse::Standard,
                }
                .to_line(),
            )
        })
    });

    // The whole click core, as a door calls it: parse and verify, classify,
    // the duplicate window, device, privacy, Location and event.
    let core = core();
    // The bench measures clicks, not refusals.
    let probe = clickedge::internals::decide::Request {
        method: "GET",
        path: "/c",
        query: &query,
        headers: &reqs[0].headers,
        client_ip: Some(ips[0]),
        secure: false,
    };
    match core.decide(&probe, clickedge::internals::decide::Now::current()) {
        clickedge::internals::decide::Decision::Answer(a) => assert!(
            matches!(
                a.outcome,
                clickedge::internals::decide::Outcome::Click { .. }
            ),
            "{:?}",
            a.outcome
        ),
        clickedge::internals::decide::Decision::Pass => panic!("passed"),
    }
    c.bench_function("core/decide", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let req = &reqs[i % reqs.len()];
            let view = clickedge::internals::decide::Request {
                method: "GET",
                path: "/c",
                query: &query,
                headers: &req.headers,
                client_ip: Some(ips[i % ips.len()]),
                secure: false,
            };
            black_box(core.decide(&view, clickedge::internals::decide::Now::current()))
        })
    });
}

/// A click core over the bench policy, truncating addresses.
fn core() -> clickedge::internals::decide::Decider {
    clickedge::internals::decide::Decider::new(
        policy(),
        clickedge::internals::privacy::Privacy::new(
            clickedge::internals::config::IpMode::Truncate,
            "",
            24,
            &[],
        ),
        &clickedge::internals::decide::DeciderSettings {
            clickid_param: "clickid".into(),
            robots_txt: true,
            edge_id: "edge-1".into(),
            duplicate_window: Duration::from_secs(60),
            duplicate_max_entries: 1_000_000,
        },
    )
}

/// The user agent's facts (bot lists, device tokens, nothing to scrub):
/// what the per-thread cache saves on a hit.
fn ua_cache(c: &mut Criterion) {
    let core = core();
    let p = core.policy_slot().load_full();
    c.bench_function("ua_facts/miss", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(core.compute_facts(&p, black_box(UAS[i % UAS.len()])))
        })
    });
    c.bench_function("ua_facts/hit", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(core.user_agent_facts(&p, black_box(UAS[i % UAS.len()])))
        })
    });
}

criterion_group!(benches, bench, ua_cache);
criterion_main!(benches);
