//! Prefetch and prerender requests (docs/contract.md §4).
//!
//! A browser that prefetches a click URL and gets a redirect follows it into
//! the landing page and later serves the user's real click from that
//! prefetch, so the edge never sees the click. Such requests are answered
//! 503 and never redirected. Header forms recognised, case-insensitively:
//! `Sec-Purpose` or `Purpose` containing `prefetch` (Chromium's speculation
//! rules and `<link rel=prefetch>`, including `prefetch;prerender`),
//! `X-Purpose: preview` or `prefetch` (Safari's and older WebKit's), and
//! `X-Moz: prefetch` (Firefox's). Every value of a repeated header counts.

use crate::request::{names, Headers};

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn trimmed_eq_ci(value: &[u8], want: &[u8]) -> bool {
    value.trim_ascii().eq_ignore_ascii_case(want)
}

#[cfg(test)]
pub(crate) fn is_prefetch(headers: &dyn Headers) -> bool {
    prefetch_header(headers).is_some()
}

/// The header that marks the request a prefetch, by its lowercase name.
/// Every value of a repeated header is read: `Sec-Purpose: x` before
/// `Sec-Purpose: prefetch` is still a prefetch.
pub(crate) fn prefetch_header(headers: &dyn Headers) -> Option<&'static str> {
    if headers.any(&names::SEC_PURPOSE, &mut |v| contains_ci(v, b"prefetch")) {
        return Some("sec-purpose");
    }
    if headers.any(&names::PURPOSE, &mut |v| contains_ci(v, b"prefetch")) {
        return Some("purpose");
    }
    if headers.any(&names::X_PURPOSE, &mut |v| {
        listed(v, b"preview") || listed(v, b"prefetch")
    }) {
        return Some("x-purpose");
    }
    headers
        .any(&names::X_MOZ, &mut |v| listed(v, b"prefetch"))
        .then_some("x-moz")
}

/// Whether `want` is one of the comma-separated values of a header line
/// (repeated lines may reach the edge joined into one by a proxy).
fn listed(value: &[u8], want: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|v| trimmed_eq_ci(v, want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> bool {
        is_prefetch(&vec![(name, value)])
    }

    #[test]
    fn every_header_form_marks_a_prefetch() {
        for (n, v) in [
            ("Sec-Purpose", "prefetch"),
            ("Sec-Purpose", "prefetch;prerender"),
            ("sec-purpose", "Prefetch; anonymous-client-ip"),
            ("Purpose", "prefetch"),
            ("X-Purpose", "preview"),
            ("X-Purpose", " Prefetch "),
            ("X-Moz", "prefetch"),
        ] {
            assert!(with(n, v), "{n}: {v}");
        }
    }

    #[test]
    fn every_value_of_a_repeated_header_is_read() {
        for (n, first, then) in [
            ("Sec-Purpose", "x", "prefetch"),
            ("Purpose", "", "prefetch"),
            ("X-Purpose", "instant", "preview"),
            ("X-Moz", "other", "prefetch"),
        ] {
            assert!(is_prefetch(&vec![(n, first), (n, then)]), "{n}: {then}");
            let joined = format!("{first}, {then}");
            assert!(with(n, &joined), "{n}: {joined}");
        }
        let mut map = http::HeaderMap::new();
        map.append("sec-purpose", http::HeaderValue::from_static("x"));
        map.append("sec-purpose", http::HeaderValue::from_static("prefetch"));
        assert_eq!(prefetch_header(&map), Some("sec-purpose"));
    }

    #[test]
    fn ordinary_requests_are_not_prefetch() {
        assert!(!is_prefetch(&Vec::new()));
        for (n, v) in [
            ("X-Purpose", "instant"),
            ("X-Moz", "other"),
            ("Purpose", ""),
            ("Sec-Fetch-Mode", "navigate"),
        ] {
            assert!(!with(n, v), "{n}: {v}");
        }
    }
}
