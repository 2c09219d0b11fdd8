//! The click URL parser and signature check, from both sides:
//! - any query string: never a panic, and whatever is accepted is a click
//!   that may be redirected (http(s) landing, ids of the id alphabet) and
//!   whose Location is a clean header value;
//! - a click minted by `sign` from arbitrary fields: it parses back to the
//!   same fields (when `sign` accepts them), and a signature with one
//!   character changed is refused.
#![no_main]

use clickedge::internals::click::{self, ClickPolicy, Keys, SignRequest};
use libfuzzer_sys::fuzz_target;

/// Keys k1 and k2; with `hosts`, only `*.example` landings are allowed.
fn policy_with(signing_required: bool, hosts: bool) -> ClickPolicy {
    ClickPolicy::new(
        Keys::new([
            ("k1", &b"fuzz-secret-0123456789abcdef"[..]),
            ("k2", &b"another-secret-0123456789ab"[..]),
        ]),
        signing_required,
        if hosts {
            vec![click::HostPattern::parse("*.example").unwrap()]
        } else {
            Vec::new()
        },
        4096,
    )
}

fn policy(signing_required: bool) -> ClickPolicy {
    policy_with(signing_required, true)
}

fn is_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

fn check_accepted(c: &click::Click<'_>) {
    assert!(matches!(c.landing.scheme(), "http" | "https"));
    assert!(c.landing.host_str().is_some_and(|h| !h.is_empty()));
    assert!(is_id(&c.campaign) && is_id(&c.impression));
    assert!(c.publisher.is_empty() || is_id(&c.publisher));
    let loc = click::location(&c.landing, "clickid", "0190b2d4-0000-7000-8000-000000000000");
    assert!(http::HeaderValue::from_str(&loc).is_ok(), "{loc:?}");
    assert!(loc.starts_with("http://") || loc.starts_with("https://"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode % 2 == 0 {
        // Any query string, against both signing modes.
        for required in [true, false] {
            if let Ok(c) = click::parse(text, &policy(required)) {
                check_accepted(&c);
            }
        }
        return;
    }
    // Fields for `sign`, separated by NUL bytes.
    let mut f = text.split('\0');
    let landing = f.next().unwrap_or("");
    let campaign = f.next().unwrap_or("");
    let impression = f.next().unwrap_or("");
    let publisher = f.next();
    let req = SignRequest {
        landing,
        campaign,
        impression,
        publisher,
        test: mode & 2 != 0,
        child_directed: mode & 4 != 0,
        expires: None,
    };
    // `sign` knows the keys, not the allowed hosts: check as an edge with
    // signing on and no host list does.
    let signed = policy_with(true, false);
    let Ok(url) = click::sign(signed.keys(), "k2", &req, signed.max_query_bytes()) else {
        return;
    };
    let query = url.strip_prefix("/c?").expect("sign prints /c?...");
    let c = click::parse(query, &signed).expect("a URL sign minted is accepted");
    check_accepted(&c);
    assert_eq!(c.campaign, campaign);
    assert_eq!(c.impression, impression);
    assert_eq!(c.publisher, publisher.unwrap_or(""));
    assert_eq!(c.test, req.test);
    // One changed character of the signature is refused (not the last: it
    // carries padding bits).
    let mut forged = query.as_bytes().to_vec();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert!(click::parse(&forged, &signed).is_err());
});
