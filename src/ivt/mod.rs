//! Invalid-traffic classification: is this click a person's?
//!
//! Owns: the [`Reason`]s of SPEC §5 and their precedence, the verdict each
//! gives, and what the edge does about it ([`Action`]).
//!
//! Invariants: classification reads only the request (headers, method,
//! address) and shared read-only state; it does no I/O, takes no lock and
//! allocates nothing. When several reasons apply, the first in SPEC §5's
//! order wins; [`Reason`]'s declaration order *is* that order.
//!
//! Does not: decide the HTTP answer's bytes (that is `proxy.rs`), or log.
//!
//! Signals checked today: prefetch/prerender headers, HEAD requests and test
//! clicks. Known bots, IP lists and the duplicate window come with their
//! lists (issue 3); their reasons and precedence are already fixed here.

mod prefetch;

pub use prefetch::is_prefetch;

use pingora::http::RequestHeader;

/// Why a click is not billable. Declared in precedence order (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Prefetch,
    KnownBot,
    NonBrowser,
    HeadRequest,
    InternalIp,
    DatacenterIp,
    TestClick,
    Duplicate,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::Prefetch,
        Reason::KnownBot,
        Reason::NonBrowser,
        Reason::HeadRequest,
        Reason::InternalIp,
        Reason::DatacenterIp,
        Reason::TestClick,
        Reason::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Prefetch => "prefetch",
            Reason::KnownBot => "known_bot",
            Reason::NonBrowser => "non_browser",
            Reason::HeadRequest => "head_request",
            Reason::InternalIp => "internal_ip",
            Reason::DatacenterIp => "datacenter_ip",
            Reason::TestClick => "test_click",
            Reason::Duplicate => "duplicate",
        }
    }
}

/// Billable or not (SPEC §5). Only `Valid` is billable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    Test,
}

impl Verdict {
    pub fn of(reason: Option<Reason>) -> Verdict {
        match reason {
            None => Verdict::Valid,
            Some(Reason::TestClick) => Verdict::Test,
            Some(_) => Verdict::Invalid,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Test => "test",
        }
    }
}

/// What the edge did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Redirected,
    Beacon,
    Blocked,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Redirected, Action::Beacon, Action::Blocked];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Redirected => "redirected",
            Action::Beacon => "beacon",
            Action::Blocked => "blocked",
        }
    }
}

/// What the request looked like, as far as classification cares.
pub struct Signals<'a> {
    pub req: &'a RequestHeader,
    /// `test=1` on the signed URL.
    pub test: bool,
}

/// The first reason that applies, in SPEC §5's order; `None` is a valid click.
pub fn classify(s: &Signals<'_>) -> Option<Reason> {
    if is_prefetch(s.req) {
        return Some(Reason::Prefetch);
    }
    if s.req.method == pingora::http::Method::HEAD {
        return Some(Reason::HeadRequest);
    }
    if s.test {
        return Some(Reason::TestClick);
    }
    None
}

/// Whether a reason stops the click (403/503) or only flags it (still
/// answered as a normal click, logged invalid). The defaults of the
/// product: prefetch and known bots are blocked, the rest flagged.
pub fn blocks(reason: Reason) -> bool {
    matches!(reason, Reason::Prefetch | Reason::KnownBot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, b"/c", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn precedence_is_declaration_order() {
        let mut sorted = Reason::ALL;
        sorted.sort();
        assert_eq!(sorted, Reason::ALL);
        let names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "prefetch",
                "known_bot",
                "non_browser",
                "head_request",
                "internal_ip",
                "datacenter_ip",
                "test_click",
                "duplicate"
            ]
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(Verdict::of(None), Verdict::Valid);
        assert_eq!(Verdict::of(Some(Reason::TestClick)), Verdict::Test);
        assert_eq!(Verdict::of(Some(Reason::HeadRequest)), Verdict::Invalid);
    }

    #[test]
    fn signals_in_order() {
        let get = req("GET", &[]);
        assert_eq!(
            classify(&Signals {
                req: &get,
                test: false
            }),
            None
        );
        assert_eq!(
            classify(&Signals {
                req: &get,
                test: true
            }),
            Some(Reason::TestClick)
        );
        let head = req("HEAD", &[]);
        assert_eq!(
            classify(&Signals {
                req: &head,
                test: true
            }),
            Some(Reason::HeadRequest)
        );
        let pre = req("HEAD", &[("Sec-Purpose", "prefetch")]);
        assert_eq!(
            classify(&Signals {
                req: &pre,
                test: true
            }),
            Some(Reason::Prefetch)
        );
    }

    #[test]
    fn default_actions() {
        assert!(blocks(Reason::Prefetch));
        assert!(blocks(Reason::KnownBot));
        for r in &Reason::ALL[2..] {
            assert!(!blocks(*r), "{r:?}");
        }
    }
}
