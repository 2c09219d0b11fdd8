//! Prefetch and prerender requests (docs/contract.md §4).
//!
//! A browser that prefetches a click URL and gets a redirect follows it into
//! the landing page and later serves the user's real click from that
//! prefetch, so the edge never sees the click. Such requests are answered
//! 503 and never redirected. Header forms recognised, case-insensitively:
//! `Sec-Purpose` or `Purpose` containing `prefetch` (Chromium's speculation
//! rules and `<link rel=prefetch>`, including `prefetch;prerender`),
//! `X-Purpose: preview` or `prefetch` (Safari's and older WebKit's), and
//! `X-Moz: prefetch` (Firefox's).

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

pub fn is_prefetch(headers: &dyn Headers) -> bool {
    prefetch_header(headers).is_some()
}

/// The header that marks the request a prefetch, by its lowercase name.
pub fn prefetch_header(headers: &dyn Headers) -> Option<&'static str> {
    if let Some(v) = headers.get(&names::SEC_PURPOSE) {
        if contains_ci(v, b"prefetch") {
            return Some("sec-purpose");
        }
    }
    if let Some(v) = headers.get(&names::PURPOSE) {
        if contains_ci(v, b"prefetch") {
            return Some("purpose");
        }
    }
    if let Some(v) = headers.get(&names::X_PURPOSE) {
        if trimmed_eq_ci(v, b"preview") || trimmed_eq_ci(v, b"prefetch") {
            return Some("x-purpose");
        }
    }
    matches!(headers.get(&names::X_MOZ), Some(v) if trimmed_eq_ci(v, b"prefetch"))
        .then_some("x-moz")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> bool {
        is_prefetch(&vec![(name, value)])
    }

    #[test]
    fn every_header_form() {
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
