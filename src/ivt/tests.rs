use super::asns::{AsnListError, BUILTIN_DATACENTER_ASNS};
use super::*;

#[test]
fn the_reasons_are_named_in_the_contracts_order() {
    let names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "prefetch",
            "known_bot",
            "link_scanner",
            "non_browser",
            "head_request",
            "internal_ip",
            "datacenter_ip",
            "publisher_suspended",
            "publisher_hold",
            "expired",
            "test_click",
            "duplicate"
        ]
    );
}

/// A classifier whose lists know one signal for each reason it decides.
fn classifier_of_every_signal() -> Classifier {
    let list = |text| bots::PatternList::compile([("t", text)]).unwrap();
    Classifier {
        bots: BotLists::of_patterns(list("knownbot"), list("heuristic"), list("scanner")),
        internal: IpSet::parse("10.0.0.0/8").unwrap(),
        datacenter: IpSet::parse("10.1.0.0/16\n203.0.113.0/24").unwrap(),
        publishers: PublisherStatuses::parse("pub-s\tsuspended\npub-h\thold\n").unwrap(),
        ..Classifier::default()
    }
}

/// What the classifier says of a click that shows the signal of each of
/// `reasons`; `None` when two of them cannot show on one click (a
/// publisher is on hold or suspended, never both).
fn verdict_of_signals(c: &Classifier, reasons: &[Reason]) -> Option<Option<Reason>> {
    let has = |r| reasons.contains(&r);
    if has(Reason::PublisherSuspended) && has(Reason::PublisherHold) {
        return None;
    }
    let mut ua = UA.to_string();
    for (reason, token) in [
        (Reason::KnownBot, " knownbot"),
        (Reason::LinkScanner, " scanner"),
        (Reason::NonBrowser, " heuristic"),
    ] {
        if has(reason) {
            ua.push_str(token);
        }
    }
    let ip = match (has(Reason::InternalIp), has(Reason::DatacenterIp)) {
        (true, true) => "10.1.2.3",
        (true, false) => "10.9.9.9",
        (false, true) => "203.0.113.5",
        (false, false) => "192.0.2.1",
    };
    let publisher = if has(Reason::PublisherSuspended) {
        "pub-s"
    } else if has(Reason::PublisherHold) {
        "pub-h"
    } else {
        "pub-ok"
    };
    let headers: Vec<(&str, &str)> = if has(Reason::Prefetch) {
        vec![("Sec-Purpose", "prefetch")]
    } else {
        vec![]
    };
    Some(c.classify(&Signals {
        method: if has(Reason::HeadRequest) {
            "HEAD"
        } else {
            "GET"
        },
        headers: &headers,
        user_agent: &ua,
        ip: Some(ip.parse().unwrap()),
        test: has(Reason::TestClick),
        expired: has(Reason::Expired),
        publisher,
        secure: false,
    }))
}

#[test]
fn when_two_reasons_apply_the_verdict_names_the_earlier_one() {
    // Every reason the classifier decides; `duplicate`, last, is the
    // decider's, asked only of a click with no other reason.
    let decided = &Reason::ALL[..Reason::ALL.len() - 1];
    assert_eq!(Reason::ALL.last(), Some(&Reason::Duplicate));
    let c = classifier_of_every_signal();
    assert_eq!(verdict_of_signals(&c, &[]), Some(None));
    for &r in decided {
        assert_eq!(verdict_of_signals(&c, &[r]), Some(Some(r)), "{r:?} alone");
    }
    let mut pairs = 0;
    for (i, &first) in decided.iter().enumerate() {
        for &later in &decided[i + 1..] {
            if let Some(verdict) = verdict_of_signals(&c, &[later, first]) {
                assert_eq!(verdict, Some(first), "{first:?} and {later:?}");
                pairs += 1;
            }
        }
    }
    assert_eq!(pairs, 11 * 10 / 2 - 1);
}

#[test]
fn the_shipped_asn_list_parses_and_bad_lines_are_named() {
    let n = DatacenterAsns::parse_numbers(BUILTIN_DATACENTER_ASNS).unwrap();
    assert!(n.contains(&16509) && n.contains(&14061), "{n:?}");
    assert!(!n.contains(&13335), "Cloudflare carries people (WARP)");
    assert_eq!(
        DatacenterAsns::parse_numbers("AS64500 # x\n\n1").unwrap(),
        [64500, 1]
    );
    let e = DatacenterAsns::parse_numbers("1\nx\n").unwrap_err();
    assert!(
        matches!(&e, AsnListError::Line { line: 2, text } if text == "x"),
        "{e}"
    );
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn only_a_click_without_a_reason_is_valid_and_a_test_click_is_a_test() {
    assert_eq!(Verdict::of(None), Verdict::Valid);
    assert_eq!(Verdict::of(Some(Reason::TestClick)), Verdict::Test);
    assert_eq!(Verdict::of(Some(Reason::HeadRequest)), Verdict::Invalid);
}

fn classifier() -> Classifier {
    Classifier {
        bots: BotLists::of_patterns(
            bots::PatternList::compile([("t", "bot\ncurl/")]).unwrap(),
            bots::PatternList::default(),
            bots::PatternList::default(),
        ),
        bot_ips: IpSet::parse("198.51.100.0/24").unwrap(),
        internal: IpSet::parse("10.0.0.0/8").unwrap(),
        datacenter: IpSet::parse("10.1.0.0/16\n203.0.113.0/24").unwrap(),
        ..Classifier::default()
    }
}

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0";

fn run(
    c: &Classifier,
    method: &str,
    headers: &[(&str, &str)],
    ua: &str,
    ip: &str,
    test: bool,
) -> Option<Reason> {
    c.classify(&Signals {
        method,
        headers: &headers.to_vec(),
        user_agent: ua,
        ip: Some(ip.parse().unwrap()),
        test,
        expired: false,
        publisher: "",
        secure: false,
    })
}

#[test]
fn each_signal_alone_gives_its_reason() {
    let c = classifier();
    assert_eq!(run(&c, "GET", &[], UA, "192.0.2.1", false), None);
    assert_eq!(
        run(
            &c,
            "GET",
            &[("Purpose", "prefetch")],
            UA,
            "192.0.2.1",
            false
        ),
        Some(Reason::Prefetch)
    );
    assert_eq!(
        run(&c, "GET", &[], "Googlebot/2.1", "192.0.2.1", false),
        Some(Reason::KnownBot)
    );
    assert_eq!(
        run(&c, "GET", &[], UA, "198.51.100.7", false),
        Some(Reason::KnownBot)
    );
    assert_eq!(
        run(&c, "GET", &[], "", "192.0.2.1", false),
        Some(Reason::NonBrowser)
    );
    assert_eq!(
        run(&c, "HEAD", &[], UA, "192.0.2.1", false),
        Some(Reason::HeadRequest)
    );
    assert_eq!(
        run(&c, "GET", &[], UA, "10.9.9.9", false),
        Some(Reason::InternalIp)
    );
    assert_eq!(
        run(&c, "GET", &[], UA, "203.0.113.5", false),
        Some(Reason::DatacenterIp)
    );
    assert_eq!(
        run(&c, "GET", &[], UA, "192.0.2.1", true),
        Some(Reason::TestClick)
    );
}

#[test]
fn a_chromium_over_tls_without_its_headers_is_a_non_browser() {
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let old = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/75.0.3770.100 Safari/537.36";
    let firefox =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let check = |on: bool, secure: bool, headers: &[(&str, &str)], ua: &str| {
        let c = Classifier {
            header_consistency: on,
            ..classifier()
        };
        c.classify_with(
            &Signals {
                method: "GET",
                headers: &headers.to_vec(),
                user_agent: ua,
                ip: Some("192.0.2.1".parse().unwrap()),
                test: false,
                expired: false,
                publisher: "",
                secure,
            },
            c.bots.classify_with_rule(ua),
        )
    };
    let found = Some((Reason::NonBrowser, Rule::BrowserHeaders));
    assert_eq!(check(true, true, &[], chrome), found);
    // Any one of the headers is enough.
    for h in [
        "sec-fetch-site",
        "Sec-Fetch-Mode",
        "sec-fetch-dest",
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
    ] {
        assert_eq!(check(true, true, &[(h, "?0")], chrome), None, "{h}");
    }
    // Off, plain HTTP, an old Chromium, or not a Chromium: nothing.
    assert_eq!(check(false, true, &[], chrome), None);
    assert_eq!(check(true, false, &[], chrome), None);
    assert_eq!(check(true, true, &[], old), None);
    assert_eq!(check(true, true, &[], firefox), None);
    assert_eq!(check(true, true, &[], "Chrome/"), None);
    assert_eq!(chromium_major(chrome), Some(131));
    assert_eq!(chromium_major("x Chrome/"), None);
    assert_eq!(
        classifier().rule_text(Rule::BrowserHeaders),
        "headers:chromium-without-sec-fetch-or-client-hints"
    );
}

#[test]
fn the_earliest_reason_wins_when_several_apply() {
    let c = classifier();
    let pre = [("Sec-Purpose", "prefetch")];
    // Everything at once: prefetch wins.
    assert_eq!(
        run(&c, "HEAD", &pre, "curl/8", "10.1.2.3", true),
        Some(Reason::Prefetch)
    );
    assert_eq!(
        run(&c, "HEAD", &[], "curl/8", "10.1.2.3", true),
        Some(Reason::KnownBot)
    );
    assert_eq!(
        run(&c, "HEAD", &[], "", "10.1.2.3", true),
        Some(Reason::NonBrowser)
    );
    assert_eq!(
        run(&c, "HEAD", &[], UA, "10.1.2.3", true),
        Some(Reason::HeadRequest)
    );
    // 10.1.2.3 is in both internal and data-center ranges: internal first.
    assert_eq!(
        run(&c, "GET", &[], UA, "10.1.2.3", true),
        Some(Reason::InternalIp)
    );
    assert_eq!(
        run(&c, "GET", &[], UA, "203.0.113.5", true),
        Some(Reason::DatacenterIp)
    );
    // A robot IP with an empty agent is a known bot, not a non-browser.
    assert_eq!(
        run(&c, "GET", &[], "", "198.51.100.1", false),
        Some(Reason::KnownBot)
    );
}

#[test]
fn prefetch_and_known_bot_block_by_default_and_every_other_reason_flags() {
    let c = Classifier::default();
    assert!(c.blocks(Reason::Prefetch));
    assert!(c.blocks(Reason::KnownBot));
    for r in &Reason::ALL[2..] {
        assert!(!c.blocks(*r), "{r:?}");
    }
    assert_eq!(Actions::from_config(&BTreeMap::new()), Ok(c.actions));
}

#[test]
fn actions_are_set_by_reason_name() {
    let named = |pairs: &[(&str, ActionKind)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    let a = Actions::from_config(&named(&[
        ("known_bot", ActionKind::Flag),
        ("duplicate", ActionKind::Block),
    ]))
    .unwrap();
    assert!(!a.blocks(Reason::KnownBot) && a.blocks(Reason::Duplicate));
    assert!(
        a.blocks(Reason::Prefetch),
        "unnamed reasons keep their default"
    );
    let p = Actions::from_config(&named(&[
        ("known_bots", ActionKind::Flag),
        ("prefetch", ActionKind::Flag),
    ]))
    .unwrap_err()
    .lines();
    assert!(
        p[0].starts_with("ivt.actions.known_bots: no such reason; use one of prefetch, known_bot"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("ivt.actions.prefetch: must be block"),
        "{p:?}"
    );
}

#[test]
fn names_come_from_the_declaration() {
    for r in Reason::ALL {
        assert_eq!(r.as_str().parse::<Reason>(), Ok(*r));
        assert_eq!(Reason::ALL[r.index()], *r);
    }
    assert_eq!(Reason::COUNT, Reason::ALL.len());
    let actions: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(actions, ["redirected", "beacon", "blocked"]);
    let verdicts: Vec<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(verdicts, ["valid", "invalid", "test"]);
}
