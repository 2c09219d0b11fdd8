//! Landing host patterns: `signing.allowed_landing_hosts` and a template's
//! `lh`, and the rule that keeps a wildcard off a public suffix.

use super::ClickError;

/// An allowed landing host: `example.com` matches that host only,
/// `*.example.com` any host below it (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host only.
    Exact(String),
    /// Stored with its leading dot: `.example.com`.
    Subdomains(String),
}

impl HostPattern {
    /// `shop.example` or `*.shop.example`; `None` for anything else.
    pub fn parse(s: &str) -> Option<HostPattern> {
        let s = s.trim().to_ascii_lowercase();
        let (wild, host) = match s.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, s.as_str()),
        };
        let ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return None;
        }
        Some(if wild {
            HostPattern::Subdomains(format!(".{host}"))
        } else {
            HostPattern::Exact(host.to_string())
        })
    }

    /// `host` as the URL parser gives it: lowercase, punycode.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => host == h,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        }
    }
}

/// Why a landing host pattern is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PatternError {
    #[error("not a host name")]
    NotAHost,
    #[error("every host under a top-level domain")]
    TopLevelDomain,
    #[error("every host under a public suffix")]
    PublicSuffix,
}

/// One landing host pattern of `lh` or of `signing.allowed_landing_hosts`:
/// a host, or `*.` and a domain anyone may not register below. `*.com`,
/// `*.co.uk` or `*.github.io` would let through the landing page of whoever
/// registers a domain there, so a wildcard's domain must not be a public
/// suffix: one of the Public Suffix List, its private entries (hosting
/// platforms) included, or any top-level domain.
pub(crate) fn landing_host_pattern(s: &str) -> Result<HostPattern, PatternError> {
    let p = HostPattern::parse(s).ok_or(PatternError::NotAHost)?;
    if let HostPattern::Subdomains(suffix) = &p {
        let domain = &suffix[1..];
        if !domain.contains('.') {
            return Err(PatternError::TopLevelDomain);
        }
        // No registrable domain: the whole of it is a public suffix.
        if psl::domain(domain.as_bytes()).is_none() {
            return Err(PatternError::PublicSuffix);
        }
    }
    Ok(p)
}

/// A pattern of a template's `lh`, refused as the click is.
pub(super) fn lh_pattern(s: &str) -> Result<HostPattern, ClickError> {
    landing_host_pattern(s).map_err(|e| match e {
        PatternError::PublicSuffix => ClickError::PublicSuffixLandingHosts,
        PatternError::NotAHost | PatternError::TopLevelDomain => ClickError::BadLandingHosts,
    })
}
