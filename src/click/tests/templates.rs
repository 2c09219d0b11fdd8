//! Tracking templates: minted by `sign --template`, filled in by the ad
//! platform, held to their signed landing hosts.

use super::*;

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
fn a_template_is_refused_for_each_way_it_can_be_wrong() {
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
