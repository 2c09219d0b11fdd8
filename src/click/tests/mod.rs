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
fn publisher_and_test_flag_are_read() {
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
fn host_patterns_match_their_host_or_the_hosts_below_it() {
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
    fn what_sign_mints_parses_back_to_its_fields(landing in landing_strategy(), cmp in id_strategy(), imp in id_strategy(),
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

    /// Changing any one byte of a signed query makes it refused for its
    /// signature: a tag that does not hold, a key id changed, the `kid` or
    /// `sig` gone, or something after `sig`. The only other refusals are of
    /// a query made malformed (a `%` without two hex digits, a parameter
    /// named twice), refused as it is scanned, before any signature check.
    #[test]
    fn tampering_is_refused_for_its_signature(landing in landing_strategy(), pos in any::<prop::sample::Index>(), byte in 0x21u8..0x7f) {
        let q = signed(&landing, "c", "i");
        let i = pos.index(q.len());
        prop_assume!(q.as_bytes()[i] != byte);
        let mut t = q.clone().into_bytes();
        t[i] = byte;
        let t = String::from_utf8(t).unwrap();
        match parse(&t, &policy()) {
            Ok(_) => prop_assert!(false, "accepted tampered {:?}", t),
            Err(
                ClickError::BadSignature
                | ClickError::UnknownKey
                | ClickError::MissingSignature
                | ClickError::SigNotLast,
            ) => {}
            // A `%` written, or a byte of a `%XX` changed.
            Err(ClickError::BadEncoding(_)) => prop_assert!(
                byte == b'%' || q.as_bytes()[i.saturating_sub(2)..i].contains(&b'%'),
                "{:?} refused as badly encoded", t
            ),
            // A name's letter changed into another name's, or a `&` cutting
            // a value before a name.
            Err(ClickError::DuplicateParam(_)) => prop_assert!(
                byte == b'&' || q.as_bytes()[i].is_ascii_alphanumeric(),
                "{:?} refused as a parameter given twice", t
            ),
            Err(e) => prop_assert!(false, "tampered {:?} refused as {:?}, not for its signature", t, e),
        }
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

mod templates;
