use super::mint::COMPONENT;
use super::*;
use percent_encoding::utf8_percent_encode;
use proptest::prelude::*;

const SECRET: &[u8] = b"test-secret-0123456789abcdef";

fn keys() -> Keys {
    Keys::new([("k1", SECRET), ("k2", &b"second-secret-0123456789"[..])])
}

fn policy() -> ClickPolicy {
    ClickPolicy {
        keys: keys(),
        signing_required: true,
        allowed_hosts: Vec::new(),
        max_query_bytes: 4096,
        ..ClickPolicy::default()
    }
}

fn signed(landing: &str, cmp: &str, imp: &str) -> String {
    let req = SignRequest {
        landing,
        campaign: cmp,
        impression: imp,
        publisher: None,
        test: false,
        child_directed: false,
        expires: None,
    };
    sign(&keys(), "k1", &req, 4096).unwrap()[3..].to_string()
}

/// Signs an arbitrary raw query (for malformed-but-signed cases).
fn sign_raw(q: &str) -> String {
    format!("{q}&sig={}", keys().sign("k1", q.as_bytes()).unwrap())
}

#[test]
fn accepts_a_signed_click() {
    let q = signed("https://shop.example/p?a=1#top", "c1", "i1");
    let c = parse(&q, &policy()).unwrap();
    assert_eq!(c.landing.as_str(), "https://shop.example/p?a=1#top");
    assert_eq!(c.campaign, "c1");
    assert_eq!(c.impression, "i1");
    assert_eq!(c.publisher, "");
    assert!(!c.test);
    assert_eq!(c.landing_host(), "shop.example");
}

#[test]
fn publisher_and_test_flag() {
    let req = SignRequest {
        landing: "http://a.example/",
        campaign: "c",
        impression: "i",
        publisher: Some("pub-9"),
        test: true,
        child_directed: false,
        expires: None,
    };
    let q = sign(&keys(), "k2", &req, 4096).unwrap();
    assert!(
        q.starts_with("/c?u=http%3A%2F%2Fa.example%2F&cmp=c&imp=i&pub=pub-9&test=1&kid=k2&sig=")
    );
    let c = parse(&q[3..], &policy()).unwrap();
    assert_eq!(c.publisher, "pub-9");
    assert!(c.test);
}

#[test]
fn refusals_have_their_status() {
    let p = policy();
    let good = signed("https://x.example/", "c", "i");
    let cases: Vec<(String, ClickError)> = vec![
        ("a".repeat(5000), ClickError::QueryTooLong),
        (good.replace("cmp=c", "cmp=d"), ClickError::BadSignature),
        (good.replace("kid=k1", "kid=k9"), ClickError::UnknownKey),
        (
            good[..good.find("&sig=").unwrap()].to_string(),
            ClickError::MissingSignature,
        ),
        (format!("{good}&x=1"), ClickError::SigNotLast),
        (format!("{good}0"), ClickError::BadSignature),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c&imp=i&kid=k1&cmp=c"),
            ClickError::DuplicateParam("cmp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c%2&imp=i&kid=k1"),
            ClickError::BadEncoding("cmp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c&imp=i&z=%zz&kid=k1"),
            ClickError::BadEncoding("query"),
        ),
        (
            sign_raw("u=%FF%FE&cmp=c&imp=i&kid=k1"),
            ClickError::BadEncoding("u"),
        ),
        (
            sign_raw("cmp=c&imp=i&kid=k1"),
            ClickError::MissingParam("u"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&imp=i&kid=k1"),
            ClickError::MissingParam("cmp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c&kid=k1"),
            ClickError::MissingParam("imp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=&imp=i&kid=k1"),
            ClickError::BadId("cmp"),
        ),
        (
            sign_raw(&format!(
                "u=https%3A%2F%2Fx.example%2F&cmp=c&imp={}&kid=k1",
                "i".repeat(129)
            )),
            ClickError::BadId("imp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c%20d&imp=i&kid=k1"),
            ClickError::BadId("cmp"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c&imp=i&pub=a/b&kid=k1"),
            ClickError::BadId("pub"),
        ),
        (
            sign_raw("u=https%3A%2F%2Fx.example%2F&cmp=c&imp=i&test=yes&kid=k1"),
            ClickError::BadTestFlag,
        ),
        (
            sign_raw("u=javascript%3Aalert(1)&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=data%3Atext%2Fhtml%2Chi&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=file%3A%2F%2F%2Fetc%2Fpasswd&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=%2F%2Fevil.example%2F&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=%2Fpath&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=ftp%3A%2F%2Fx.example%2F&cmp=c&imp=i&kid=k1"),
            ClickError::BadLanding,
        ),
        (
            sign_raw("u=https%3A%2F%2Fuser%3Apw%40x.example%2F&cmp=c&imp=i&kid=k1"),
            ClickError::LandingCredentials,
        ),
    ];
    for (q, want) in cases {
        let got = parse(&q, &p).map(|_| ()).unwrap_err();
        assert_eq!(got, want, "query {q:?}");
        assert!(got.status() == 400 || got.status() == 403);
        assert!(!got.to_string().is_empty());
    }
    assert_eq!(ClickError::BadSignature.status(), 403);
    assert_eq!(ClickError::BadLanding.status(), 400);
}

#[test]
fn refusal_labels_are_distinct_snake_case_names() {
    use strum::{EnumCount, VariantArray};
    let labels: std::collections::BTreeSet<_> =
        Refusal::VARIANTS.iter().map(|r| r.label()).collect();
    assert_eq!(labels.len(), Refusal::COUNT);
    assert!(labels
        .iter()
        .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    // The counter's labels, as dashboards know them.
    assert_eq!(ClickError::DuplicateParam("u").label(), "duplicate_param");
    assert_eq!(ClickError::BadTestFlag.label(), "bad_test_flag");
    assert_eq!(ClickError::HostNotAllowed.label(), "host_not_allowed");
}

#[test]
fn unsigned_mode_only_redirects_to_allowed_hosts() {
    let p = ClickPolicy {
        keys: Keys::default(),
        signing_required: false,
        allowed_hosts: vec![
            HostPattern::parse("shop.example").unwrap(),
            HostPattern::parse("*.cdn.example").unwrap(),
        ],
        max_query_bytes: 4096,
        ..ClickPolicy::default()
    };
    let q = |u: &str| format!("u={}&cmp=c&imp=i", utf8_percent_encode(u, COMPONENT));
    assert!(parse(&q("https://shop.example/x"), &p).is_ok());
    assert!(parse(&q("https://SHOP.example./x"), &p).is_err());
    assert!(parse(&q("https://a.cdn.example/x"), &p).is_ok());
    // Unsigned with no host listed (a policy built by hand, past `check`):
    // nothing is redirected.
    let open = ClickPolicy {
        allowed_hosts: Vec::new(),
        ..p.clone()
    };
    assert_eq!(
        parse(&q("https://evil.example/x"), &open).unwrap_err(),
        ClickError::HostNotAllowed
    );
    assert_eq!(
        parse(&q("https://cdn.example/x"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
    assert_eq!(
        parse(&q("https://evil.example/x"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
    assert_eq!(
        parse(&q("https://shop.example.evil.example/"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
    assert_eq!(
        parse(&q("https://evilshop.example/"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
    // A backslash or a tab does not fool the check: the host is what a browser would see.
    assert_eq!(
        parse(&q("https://evil.example\\@shop.example/"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
}

#[test]
fn allowed_hosts_apply_to_signed_clicks_too() {
    let mut p = policy();
    p.allowed_hosts = vec![HostPattern::parse("ok.example").unwrap()];
    assert!(parse(&signed("https://ok.example/", "c", "i"), &p).is_ok());
    assert_eq!(
        parse(&signed("https://no.example/", "c", "i"), &p).unwrap_err(),
        ClickError::HostNotAllowed
    );
}

#[test]
fn location_adds_clickid_before_the_fragment() {
    let cases = [
        ("https://a.example/", "https://a.example/?clickid=ID"),
        ("https://a.example", "https://a.example/?clickid=ID"),
        (
            "https://a.example/p?x=1",
            "https://a.example/p?x=1&clickid=ID",
        ),
        (
            "https://a.example/p?x=1#frag",
            "https://a.example/p?x=1&clickid=ID#frag",
        ),
        (
            "https://a.example/p#frag?no",
            "https://a.example/p?clickid=ID#frag?no",
        ),
        ("https://a.example/p?", "https://a.example/p?clickid=ID"),
        (
            "https://a.example/p?clickid=old&y=2",
            "https://a.example/p?y=2&clickid=ID",
        ),
        (
            "https://a.example/p?x=1&&clickid",
            "https://a.example/p?x=1&clickid=ID",
        ),
        (
            "https://a.example/p?clickidx=1",
            "https://a.example/p?clickidx=1&clickid=ID",
        ),
        (
            "http://a.example:8080/a b?q=a b",
            "http://a.example:8080/a%20b?q=a%20b&clickid=ID",
        ),
    ];
    for (landing, want) in cases {
        let u = Url::parse(landing).unwrap();
        assert_eq!(location(&u, "clickid", "ID"), want, "{landing}");
    }
}

#[test]
fn host_patterns() {
    assert_eq!(
        HostPattern::parse("Example.COM"),
        Some(HostPattern::Exact("example.com".into()))
    );
    assert_eq!(
        HostPattern::parse("*.example.com"),
        Some(HostPattern::Subdomains(".example.com".into()))
    );
    for bad in [
        "",
        "*.",
        "a..b",
        "ex ample.com",
        "http://x.com",
        "x.com/",
        "*x.com",
    ] {
        assert_eq!(HostPattern::parse(bad), None, "{bad}");
    }
}

#[test]
fn sign_refuses_what_the_edge_would_refuse() {
    let mut req = SignRequest {
        landing: "javascript:alert(1)",
        campaign: "c",
        impression: "i",
        publisher: None,
        test: false,
        child_directed: false,
        expires: None,
    };
    assert_eq!(
        sign(&keys(), "k1", &req, 4096).unwrap_err(),
        ClickError::BadLanding
    );
    req.landing = "https://x.example/";
    req.campaign = "has space";
    assert_eq!(
        sign(&keys(), "k1", &req, 4096).unwrap_err(),
        ClickError::BadId("cmp")
    );
    req.campaign = "c";
    assert_eq!(
        sign(&keys(), "nokey", &req, 4096).unwrap_err(),
        ClickError::UnknownKey
    );
}

fn id_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{1,128}"
}

fn landing_strategy() -> impl Strategy<Value = String> {
    (
        prop_oneof!["http", "https"],
        "[a-z]{1,12}(-[a-z0-9]{1,8})?(\\.[a-z]{2,6}){1,2}",
        "(/[A-Za-z0-9._~%!$'()*+,;=:@-]{0,12}){0,3}",
        proptest::option::of("[A-Za-z0-9=&._~-]{0,30}"),
        proptest::option::of("[A-Za-z0-9=&?/._~-]{0,20}"),
    )
        .prop_map(|(s, h, p, q, f)| {
            let mut u = format!("{s}://{h}{p}");
            if let Some(q) = q {
                u.push('?');
                u.push_str(&q);
            }
            if let Some(f) = f {
                u.push('#');
                u.push_str(&f);
            }
            u
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A signed query whose landing URL is any text at all: no panic, and
    /// whatever is accepted is safe to redirect to (http or https, a host,
    /// no credentials, no control character in the Location). Random
    /// queries alone never get past the signature, so the landing text is
    /// signed here; half of it is a well-formed URL, which must be accepted.
    #[test]
    fn signed_arbitrary_landings_are_safe_when_accepted(
        raw in ".{0,120}",
        well_formed in landing_strategy(),
        pick_raw: bool,
        required: bool,
    ) {
        let landing = if pick_raw { raw } else { well_formed };
        let q = sign_raw(&format!(
            "u={}&cmp=c&imp=i&kid=k1",
            utf8_percent_encode(&landing, COMPONENT)
        ));
        let mut p = policy();
        p.signing_required = required;
        if !required {
            p.allowed_hosts = vec![HostPattern::parse("*.example").unwrap(), HostPattern::parse("*.com").unwrap()];
            p.allowed_hosts.extend(Url::parse(&landing).ok().and_then(|u| u.host_str().and_then(HostPattern::parse)));
        }
        match parse(&q, &p) {
            Ok(c) => {
                prop_assert!(matches!(c.landing.scheme(), "http" | "https"));
                prop_assert!(c.landing.host_str().is_some_and(|h| !h.is_empty()));
                prop_assert!(c.landing.username().is_empty() && c.landing.password().is_none());
                let loc = location(&c.landing, "clickid", "id");
                prop_assert!(!loc.bytes().any(|b| b < 0x20 || b == 0x7f), "{:?}", loc);
                prop_assert!(loc.starts_with(&c.landing[..url::Position::BeforePath]));
            }
            Err(e) => prop_assert!(pick_raw, "a well-formed landing was refused: {} ({:?})", e, landing),
        }
    }

    /// Queries built from the URL alphabet and the known names: never a panic,
    /// and never accepted without a valid signature.
    #[test]
    fn structured_garbage_is_refused(parts in proptest::collection::vec(
        (prop_oneof!["u", "cmp", "imp", "pub", "test", "kid", "sig", "x", ""],
         "[A-Za-z0-9%=&+/:._~-]{0,40}"), 0..8)) {
        let q: Vec<String> = parts.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let q = q.join("&");
        prop_assert!(parse(&q, &policy()).is_err());
    }

    /// What `sign` mints, the edge accepts, and gets the same fields back.
    #[test]
    fn sign_parse_round_trip(landing in landing_strategy(), cmp in id_strategy(), imp in id_strategy(),
                             publisher in proptest::option::of(id_strategy()), test: bool) {
        let req = SignRequest { landing: &landing, campaign: &cmp, impression: &imp,
                                publisher: publisher.as_deref(), test, child_directed: !test, expires: None };
        let path = sign(&keys(), "k2", &req, 4096).unwrap();
        let c = parse(&path[3..], &ClickPolicy { max_query_bytes: usize::MAX, ..policy() }).unwrap();
        prop_assert_eq!(c.landing, Url::parse(&landing).unwrap());
        prop_assert_eq!(&c.campaign, &cmp);
        prop_assert_eq!(&c.impression, &imp);
        prop_assert_eq!(c.publisher.as_ref(), publisher.as_deref().unwrap_or(""));
        prop_assert_eq!(c.test, test);
        prop_assert_eq!(c.child_directed, !test);
    }

    /// Changing any one byte of a signed query makes it refused (or, when the
    /// change is in an unsigned tail that cannot matter, still the same click).
    #[test]
    fn tampering_is_refused(landing in landing_strategy(), pos in any::<prop::sample::Index>(), byte in 0x21u8..0x7f) {
        let q = signed(&landing, "c", "i");
        let i = pos.index(q.len());
        prop_assume!(q.as_bytes()[i] != byte);
        let mut t = q.clone().into_bytes();
        t[i] = byte;
        let t = String::from_utf8(t).unwrap();
        prop_assert!(parse(&t, &policy()).is_err(), "accepted tampered {:?}", t);
    }

    /// The Location keeps the landing URL and adds exactly one click id.
    #[test]
    fn location_keeps_the_landing(landing in landing_strategy()) {
        let u = Url::parse(&landing).unwrap();
        let loc = location(&u, "clickid", "ID-1");
        let l = Url::parse(&loc).unwrap();
        prop_assert_eq!(l.host_str(), u.host_str());
        prop_assert_eq!(l.path(), u.path());
        prop_assert_eq!(l.fragment(), u.fragment());
        let ids: Vec<_> = l.query_pairs().filter(|(k, _)| k == "clickid").map(|(_, v)| v.into_owned()).collect();
        prop_assert_eq!(ids, vec!["ID-1".to_string()]);
    }
}

/// Found by fuzzing (`fuzz/`, target click_url): `sign` printed URLs longer
/// than `click.max_query_bytes`, which the edge then refused.
#[test]
fn sign_refuses_a_query_the_edge_would_refuse_as_too_long() {
    let long = format!("https://shop.example/{}", "a".repeat(5000));
    let req = SignRequest {
        landing: &long,
        campaign: "c",
        impression: "i",
        ..SignRequest::default()
    };
    assert_eq!(
        sign(&keys(), "k1", &req, 4096).unwrap_err(),
        ClickError::QueryTooLong
    );
    assert!(sign(&keys(), "k1", &req, 8192).is_ok());
}

fn template(hosts: &[&str], platform: Platform, expires: Option<u64>) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let req = TemplateRequest {
        platform,
        campaign: "c9",
        publisher: Some("p1"),
        landing_hosts: &hosts,
        expires,
    };
    sign_template(&keys(), "k1", &req, &policy()).unwrap()[3..].to_string()
}

/// The template as the platform fills it in.
fn filled(t: &str, landing: &str, click_id: &str) -> String {
    let u = utf8_percent_encode(landing, COMPONENT).to_string();
    t.replace("{lpurl}", &u)
        .replace("{gclid}", click_id)
        .replace("{msclkid}", click_id)
}

#[test]
fn a_template_prints_the_platforms_placeholders() {
    let g = template(&["shop.example", "*.shop.example"], Platform::Google, None);
    assert!(
        g.starts_with("cmp=c9&pub=p1&lh=shop.example%2C%2A.shop.example&kid=k1&sig="),
        "{g}"
    );
    assert!(g.ends_with("&u={lpurl}&gclid={gclid}"), "{g}");
    let m = template(&["shop.example"], Platform::Microsoft, Some(1_900_000_000));
    assert!(
        m.contains("&exp=1900000000&lh=") && m.ends_with("&u={lpurl}&msclkid={msclkid}"),
        "{m}"
    );
}

#[test]
fn a_filled_template_is_a_click_on_an_allowed_host_with_the_platforms_id() {
    let t = template(&["shop.example", "*.shop.example"], Platform::Google, None);
    for landing in [
        "https://shop.example/p?x=1",
        "https://www.shop.example/",
        "http://a.b.shop.example/",
    ] {
        let q = filled(&t, landing, "Cj0KCQ-abc_123");
        let c = parse(&q, &policy()).unwrap();
        assert!(c.template);
        assert_eq!(c.landing.as_str(), Url::parse(landing).unwrap().as_str());
        assert_eq!(c.impression, "");
        assert_eq!(c.publisher, "p1");
        assert_eq!(c.platform, Some(("gclid", Cow::Borrowed("Cj0KCQ-abc_123"))));
    }
    // Without a click id (a manual test of the template) it is a click too.
    let q = t
        .replace("&gclid={gclid}", "")
        .replace("{lpurl}", "https%3A%2F%2Fshop.example%2F");
    assert_eq!(parse(&q, &policy()).unwrap().platform, None);
}

#[test]
fn template_refusals() {
    let t = template(&["*.shop.example"], Platform::Google, None);
    let ok = filled(&t, "https://www.shop.example/", "id1");
    assert!(parse(&ok, &policy()).is_ok());
    for (q, want) in [
        // A landing host the signature does not allow.
        (
            filled(&t, "https://evil.example/", "id1"),
            ClickError::HostNotAllowed,
        ),
        (
            filled(&t, "https://shop.example/", "id1"),
            ClickError::HostNotAllowed,
        ),
        // Anything but u and a platform id after sig.
        (format!("{ok}&utm_source=x"), ClickError::ParamAfterSig),
        (format!("{ok}&cmp=other"), ClickError::ParamAfterSig),
        // The signed part changed.
        (ok.replacen("cmp=c9", "cmp=c8", 1), ClickError::BadSignature),
        (
            ok.replacen("shop.example&kid", "evil.example&kid", 1),
            ClickError::BadSignature,
        ),
        // No landing URL.
        (
            ok.split("&u=").next().unwrap().to_string(),
            ClickError::MissingParam("u"),
        ),
        (
            format!("{ok}&u=https%3A%2F%2Fwww.shop.example%2F"),
            ClickError::DuplicateParam("u"),
        ),
        (
            format!("{ok}&gclid=again"),
            ClickError::DuplicateParam("platform click id"),
        ),
        (
            filled(&t, "https://www.shop.example/", "bad%zz"),
            ClickError::BadEncoding("query"),
        ),
        (
            filled(&t, "https://www.shop.example/", "bad%20id"),
            ClickError::BadPlatformId("the platform click id"),
        ),
    ] {
        assert_eq!(parse(&q, &policy()).err(), Some(want), "{q}");
        assert!(matches!(want.status(), 400 | 403));
    }
    assert_eq!(ClickError::HostNotAllowed.status(), 403);
    assert_eq!(ClickError::ParamAfterSig.status(), 400);
    assert_eq!(ClickError::MissingParam("u").status(), 400);
    // A landing URL inside a template's signed part, or a bad lh, is malformed.
    let signed_u = sign_raw("u=https%3A%2F%2Fshop.example%2F&cmp=c&lh=shop.example&kid=k1");
    assert_eq!(
        parse(&signed_u, &policy()).err(),
        Some(ClickError::SignedTemplateLanding)
    );
    let bad_lh = sign_raw("cmp=c&lh=%2A.com&kid=k1") + "&u=https%3A%2F%2Fa.com%2F";
    assert_eq!(
        parse(&bad_lh, &policy()).err(),
        Some(ClickError::BadLandingHosts)
    );
    // A classic click still has nothing after sig (byte for byte as before).
    let classic = signed("https://shop.example/", "c", "i");
    assert_eq!(
        parse(&format!("{classic}&gclid=x"), &policy()).err(),
        Some(ClickError::SigNotLast)
    );
}

/// What anyone can register a domain below: a top-level domain's
/// second-level public suffix, and a hosting platform's (the list's private
/// section).
const ON_PUBLIC_SUFFIXES: [&str; 4] = ["*.co.uk", "*.github.io", "*.com.au", "*.herokuapp.com"];

#[test]
fn a_landing_host_wildcard_on_a_public_suffix_is_refused_in_the_config() {
    let mut signing = SigningConfig {
        required: false,
        ..SigningConfig::default()
    };
    let fine = ["*.shop.co.uk", "*.shop.github.io", "github.io", "co.uk"];
    signing.allowed_landing_hosts = ON_PUBLIC_SUFFIXES
        .iter()
        .chain(&fine)
        .map(|h| h.to_string())
        .collect();
    let problems = ClickPolicy::from_config(&signing, &ClickConfig::default())
        .expect_err("refused")
        .lines()
        .join("\n");
    for p in ON_PUBLIC_SUFFIXES {
        assert!(
            problems.contains(&format!("{p:?} allows every host under the public suffix")),
            "{p}: {problems}"
        );
    }
    for p in fine {
        assert!(!problems.contains(&format!("{p:?}")), "{p}: {problems}");
    }
}

#[test]
fn a_template_whose_lh_wildcard_is_on_a_public_suffix_redirects_nowhere() {
    for (lh, landing) in [
        ("%2A.co.uk", "https://evil.co.uk/"),
        ("%2A.github.io", "https://attacker.github.io/"),
        // One such pattern spoils the list, as any bad pattern does.
        ("shop.example%2C%2A.github.io", "https://shop.example/"),
    ] {
        let q = sign_raw(&format!("cmp=c&lh={lh}&kid=k1"))
            + "&u="
            + &utf8_percent_encode(landing, COMPONENT).to_string()
            + "&gclid=g1";
        let err = parse(&q, &policy()).map(|c| c.landing.to_string());
        let err = err.expect_err(lh);
        assert_eq!(err.status(), 400, "{lh}");
        assert_eq!(
            err.to_string(),
            "lh must not allow every host under a public suffix (like *.co.uk or *.github.io)",
            "{lh}"
        );
    }
    // Below the public suffix, the advertiser's own domain: redirected.
    let q = sign_raw("cmp=c&lh=%2A.shop.co.uk&kid=k1") + "&u=https%3A%2F%2Fwww.shop.co.uk%2F";
    assert_eq!(
        parse(&q, &policy()).unwrap().landing_host(),
        "www.shop.co.uk"
    );
}

#[test]
fn sign_template_refuses_a_wildcard_on_a_public_suffix() {
    for p in ON_PUBLIC_SUFFIXES {
        let hosts = vec![p.to_string()];
        let req = TemplateRequest {
            platform: Platform::Google,
            campaign: "c9",
            publisher: None,
            landing_hosts: &hosts,
            expires: None,
        };
        let got = sign_template(&keys(), "k1", &req, &policy()).map_err(|e| e.to_string());
        assert_eq!(
            got,
            Err(
                "lh must not allow every host under a public suffix (like *.co.uk or *.github.io)"
                    .into()
            ),
            "{p}"
        );
    }
    assert!(template(
        &["*.shop.co.uk", "*.user.github.io"],
        Platform::Google,
        None
    )
    .contains("lh="));
}

#[test]
fn expiry_is_signed_and_read() {
    let req = SignRequest {
        landing: "https://shop.example/",
        campaign: "c",
        impression: "i",
        expires: Some(1_700_000_000),
        ..SignRequest::default()
    };
    let q = sign(&keys(), "k1", &req, 4096).unwrap()[3..].to_string();
    assert!(q.contains("&exp=1700000000&kid=k1"), "{q}");
    assert_eq!(parse(&q, &policy()).unwrap().expires, Some(1_700_000_000));
    assert_eq!(
        parse(
            &q.replacen("exp=1700000000", "exp=1800000000", 1),
            &policy()
        )
        .err(),
        Some(ClickError::BadSignature)
    );
    for bad in ["exp=soon", "exp=-1", "exp=+5", "exp="] {
        let q = sign_raw(&format!(
            "u=https%3A%2F%2Fshop.example%2F&cmp=c&imp=i&{bad}&kid=k1"
        ));
        assert_eq!(
            parse(&q, &policy()).err(),
            Some(ClickError::BadExpiry),
            "{bad}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A filled-in template with any landing URL and any tail: accepted
    /// exactly when the landing host is one the signature allows, the tail
    /// holds only a valid platform id, and the landing URL is safe.
    #[test]
    fn filled_templates_are_accepted_only_on_their_hosts(
        host in prop_oneof!["[a-z]{1,8}\\.shop\\.example", Just("shop.test".to_string()), "[a-z]{1,8}\\.[a-z]{2,5}"],
        path in "[A-Za-z0-9/._~-]{0,20}",
        id in "[A-Za-z0-9_-]{1,60}",
        extra in proptest::option::of("[a-z]{1,6}=[a-z0-9]{0,6}"),
    ) {
        let landing = format!("https://{host}/{path}");
        let t = template(&["*.shop.example", "shop.test"], Platform::Google, None);
        let mut q = filled(&t, &landing, &id);
        if let Some(e) = &extra {
            q.push('&');
            q.push_str(e);
        }
        let host = Url::parse(&landing).unwrap().host_str().unwrap().to_string();
        let host_ok = host.ends_with(".shop.example") || host == "shop.test";
        let extra_ok = extra.as_ref().is_none_or(|e| {
            let name = e.split('=').next().unwrap();
            PLATFORM_PARAMS.contains(&name) && name != "gclid" && e.len() > name.len() + 1
        });
        match parse(&q, &policy()) {
            Ok(c) => {
                prop_assert!(host_ok && extra_ok, "accepted {}", q);
                prop_assert_eq!(c.landing_host(), host.as_str());
                prop_assert_eq!(c.platform.map(|(p, v)| (p, v.into_owned())), Some(("gclid", id.clone())));
            }
            Err(e) => prop_assert!(!host_ok || !extra_ok, "refused {}: {}", q, e),
        }
    }
}
