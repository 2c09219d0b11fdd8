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
//! The signals, cheapest and most decisive first within SPEC §5's order:
//! prefetch headers; the user agent against the bot lists and the client
//! address against the IAB robot IPs (`known_bot`); an empty user agent or
//! one the IAB include list does not know (`non_browser`); HEAD; the
//! internal and data-center ranges; `test=1`; and last the duplicate
//! window, which is the only stateful check and so lives with the edge
//! ([`DuplicateWindow`]) rather than in the reloadable [`Classifier`].

pub mod bots;
pub mod duplicate;
pub mod iplist;
mod prefetch;

pub use bots::BotLists;
pub use duplicate::DuplicateWindow;
pub use iplist::IpSet;
pub use prefetch::is_prefetch;

use pingora::http::RequestHeader;
use std::net::IpAddr;

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
    /// The `User-Agent` header, empty when absent.
    pub user_agent: &'a str,
    /// The client address, in full (only what the privacy mode allows is
    /// ever written).
    pub ip: Option<IpAddr>,
    /// `test=1` on the signed URL.
    pub test: bool,
}

/// The lists and actions in force; built whole from the config and its
/// files, shared read-only, replaced whole on reload.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub bots: BotLists,
    /// The IAB IP exclusion list: robots by address.
    pub bot_ips: IpSet,
    pub internal: IpSet,
    pub datacenter: IpSet,
    /// Indexed like [`Reason::ALL`].
    pub block: [bool; 8],
}

impl Default for Classifier {
    /// No lists; the product's default actions.
    fn default() -> Self {
        Classifier {
            bots: BotLists::default(),
            bot_ips: IpSet::default(),
            internal: IpSet::default(),
            datacenter: IpSet::default(),
            block: Reason::ALL.map(|r| matches!(r, Reason::Prefetch | Reason::KnownBot)),
        }
    }
}

impl Classifier {
    /// The first reason that applies, in SPEC §5's order, except
    /// `duplicate` (see [`DuplicateWindow`]); `None` is a valid click so far.
    pub fn classify(&self, s: &Signals<'_>) -> Option<Reason> {
        if is_prefetch(s.req) {
            return Some(Reason::Prefetch);
        }
        if s.ip.is_some_and(|ip| self.bot_ips.contains(ip)) {
            return Some(Reason::KnownBot);
        }
        if let Some(r) = self.bots.classify(s.user_agent) {
            return Some(r);
        }
        if s.req.method == pingora::http::Method::HEAD {
            return Some(Reason::HeadRequest);
        }
        if let Some(ip) = s.ip {
            if self.internal.contains(ip) {
                return Some(Reason::InternalIp);
            }
            if self.datacenter.contains(ip) {
                return Some(Reason::DatacenterIp);
            }
        }
        if s.test {
            return Some(Reason::TestClick);
        }
        None
    }

    /// Whether a reason stops the click (503 for prefetch, 403 otherwise)
    /// or only flags it (answered as a normal click, logged invalid).
    pub fn blocks(&self, reason: Reason) -> bool {
        self.block[reason as usize]
    }
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

    fn classifier() -> Classifier {
        Classifier {
            bots: BotLists {
                patterns: bots::PatternList::compile([("t", "bot\ncurl/")]).unwrap(),
                ..BotLists::default()
            },
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
        let r = req(method, headers);
        c.classify(&Signals {
            req: &r,
            user_agent: ua,
            ip: Some(ip.parse().unwrap()),
            test,
        })
    }

    #[test]
    fn each_reason() {
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
    fn precedence_when_several_apply() {
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
    fn default_actions() {
        let c = Classifier::default();
        assert!(c.blocks(Reason::Prefetch));
        assert!(c.blocks(Reason::KnownBot));
        for r in &Reason::ALL[2..] {
            assert!(!c.blocks(*r), "{r:?}");
        }
        let from_config = crate::config::ActionsConfig::default().blocks();
        assert_eq!(from_config, c.block);
    }
}
