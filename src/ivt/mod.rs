//! Invalid-traffic classification: is this click a person's?
//!
//! Owns: the [`Reason`]s of docs/contract.md §5 and their precedence, the verdict each
//! gives, and what the edge does about it ([`Action`]).
//!
//! Invariants: classification reads only the request (headers, method,
//! address) and shared read-only state; it does no I/O, takes no lock and
//! allocates nothing. When several reasons apply, the first in docs/contract.md §5's
//! order wins; [`Reason`]'s declaration order *is* that order.
//!
//! Does not: decide the HTTP answer (that is `core`), or log.
//!
//! The signals, cheapest and most decisive first within docs/contract.md §5's order:
//! prefetch headers; the user agent against the bot lists and the client
//! address against the IAB robot IPs (`known_bot`); the link-scanner list;
//! an empty user agent, a heuristic, one the IAB include list does not
//! know, or a Chromium over TLS without its headers (`non_browser`); HEAD; the
//! internal and data-center ranges; `test=1`; and last the duplicate
//! window, which is the only stateful check and so lives with the edge
//! ([`DuplicateWindow`]) rather than in the reloadable [`Classifier`].

pub mod bots;
pub mod duplicate;
pub mod iplist;
mod prefetch;
pub mod publishers;

pub use bots::BotLists;
pub use duplicate::DuplicateWindow;
pub use iplist::IpSet;
pub use prefetch::{is_prefetch, prefetch_header};
pub use publishers::{PublisherStatus, PublisherStatuses};

/// The shipped data-center AS numbers (`conf/asn/datacenter-asns.txt`).
pub const BUILTIN_DATACENTER_ASNS: &str = include_str!("../../conf/asn/datacenter-asns.txt");

use crate::closed_set::closed_set;
use crate::config::{ActionKind, Problems};
use crate::decide::request::Headers;
use std::collections::BTreeMap;
use std::net::IpAddr;
use strum::EnumCount;

closed_set! {
    /// Why a click is not billable. Declared in precedence order
    /// (docs/contract.md §5): when several apply, the first declared wins.
    /// This declaration is the only list of reasons: the name of each, its
    /// index, the count and the full list all come from it, and so do the
    /// event's `reason`, the metrics' labels, the report's columns and the
    /// config's `ivt.actions` keys. A new reason is one variant here, its
    /// default action in [`Reason::blocks_by_default`] if it blocks, and
    /// its rule in [`Classifier::classify`] (or in the click core, for
    /// stateful ones).
    pub enum Reason {
        Prefetch,
        KnownBot,
        /// A mail or link-safety scanner, or a mail program fetching in
        /// the person's stead (`conf/bots/link-scanners.txt`): flagged.
        LinkScanner,
        NonBrowser,
        HeadRequest,
        InternalIp,
        DatacenterIp,
        /// The publisher is suspended by the strike ladder
        /// (`ivt.publisher_status_file`, written by `strikes export`):
        /// still redirected, never billed.
        PublisherSuspended,
        /// The publisher is on hold by the strike ladder: the same.
        PublisherHold,
        /// Past the URL's signed `exp`: still redirected (a person
        /// clicked), never billed, so a replayed old URL earns nothing.
        Expired,
        TestClick,
        Duplicate,
    }
}

impl Reason {
    /// Whether the reason blocks unless `ivt.actions` says otherwise: only
    /// where a redirect would do harm (a prefetch hides the real click) or
    /// the match is confident (a named crawler).
    pub const fn blocks_by_default(self) -> bool {
        matches!(self, Reason::Prefetch | Reason::KnownBot)
    }
}

closed_set! {
    /// Why `clickedge rescore` invalidated a click after the fact, from
    /// activity across many clicks (docs/methodology.md). Recorded as an
    /// adjustment beside the click log, never written into it.
    pub enum BackendReason {
        /// Too many counted clicks from one address on one campaign.
        ClickFlood,
        /// One address clicking too many campaigns or publishers.
        AddressSpread,
        /// A publisher far above its own recent hourly baseline.
        PublisherSpike,
        /// One address and user agent across too many impressions.
        ImpressionCycling,
    }
}

closed_set! {
    /// Billable or not (docs/contract.md §5). Only `Valid` is billable.
    pub enum Verdict {
        Valid,
        Invalid,
        Test,
    }
}

impl Verdict {
    pub fn of(reason: Option<Reason>) -> Verdict {
        match reason {
            None => Verdict::Valid,
            Some(Reason::TestClick) => Verdict::Test,
            Some(_) => Verdict::Invalid,
        }
    }
}

closed_set! {
    /// What the edge did with the request.
    pub enum Action {
        Redirected,
        Beacon,
        Blocked,
    }
}

/// Which reasons block a click and which only flag it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions([bool; Reason::COUNT]);

impl Default for Actions {
    /// Each reason's own default ([`Reason::blocks_by_default`]).
    fn default() -> Actions {
        Actions(std::array::from_fn(|i| Reason::ALL[i].blocks_by_default()))
    }
}

impl Actions {
    /// From `ivt.actions`: reasons by name; a reason not named keeps its
    /// default.
    pub fn from_config(named: &BTreeMap<String, ActionKind>) -> Result<Actions, Problems> {
        let mut actions = Actions::default();
        let mut p = Problems::default();
        for (name, kind) in named {
            match name.parse::<Reason>() {
                Ok(r) => actions.0[r.index()] = *kind == ActionKind::Block,
                Err(_) => p.push(
                    format!("ivt.actions.{name}"),
                    format!(
                        "no such reason; use one of {}",
                        Reason::ALL
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        if !actions.blocks(Reason::Prefetch) {
            p.push(
                "ivt.actions.prefetch",
                "must be block; a redirected prefetch makes the browser \
                 serve the real click from it, and the edge never sees the click",
            );
        }
        p.or(actions)
    }

    /// Whether `reason` stops the click (503 for prefetch, 403 otherwise)
    /// or only flags it (answered as a normal click, logged invalid).
    pub fn blocks(&self, reason: Reason) -> bool {
        self.0[reason.index()]
    }
}

/// The rule behind an invalid click (docs/contract.md §5 `rule`): which
/// list and entry, which network, which signal, so a dispute can be
/// answered. Copied cheaply; written as text only into the event
/// ([`Classifier::rule_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A pattern of one of the user-agent lists, by its source and line.
    Pattern {
        list: PatternTier,
        source: u16,
        line: u32,
    },
    IabExclude {
        line: u32,
    },
    /// The IAB include list is configured and did not match.
    IabInclude,
    IabIp(ipnet::IpNet),
    EmptyUserAgent,
    /// The header that marked a prefetch.
    Prefetch(&'static str),
    HeadRequest,
    Internal(ipnet::IpNet),
    Datacenter(ipnet::IpNet),
    /// The address's autonomous system is on the data-center list.
    Asn(u32),
    /// `ivt.publisher_status_file`.
    PublisherStatus,
    Expired,
    Test,
    /// The duplicate key's kind.
    Duplicate(&'static str),
    /// A current Chromium's user agent over TLS without any of the headers
    /// every Chromium sends there (`ivt.header_consistency`). Only flags.
    BrowserHeaders,
}

/// The first Chromium release that sends both the low-entropy client hints
/// (`Sec-CH-UA`, shipped in 89) and `Sec-Fetch-*` (shipped in 76) to
/// secure origins. An older one may send neither and is left alone.
const CHROMIUM_WITH_BOTH: u32 = 90;

/// A user agent that says it is a current Chromium (`Chrome/N`, N at least
/// [`CHROMIUM_WITH_BOTH`]: Chrome, Edge, Opera, Samsung Internet, Android
/// WebView...) whose request carries none of the client hints or
/// `Sec-Fetch-*` headers such a browser sends on every request to a secure
/// origin. Headers are looked at first: a browser's request has them, so
/// the user agent is read only for what lacks them.
fn lacks_browser_headers(h: &dyn Headers, ua: &str) -> bool {
    use crate::decide::request::names::*;
    let has_any = [
        &SEC_FETCH_SITE,
        &SEC_FETCH_MODE,
        &SEC_FETCH_DEST,
        &SEC_CH_UA,
        &SEC_CH_UA_MOBILE,
        &SEC_CH_UA_PLATFORM,
    ]
    .iter()
    .any(|n| h.get(n).is_some());
    !has_any && chromium_major(ua).is_some_and(|v| v >= CHROMIUM_WITH_BOTH)
}

/// The major version of `Chrome/N` in a user agent.
fn chromium_major(ua: &str) -> Option<u32> {
    let at = ua.find("Chrome/")? + "Chrome/".len();
    let digits = ua[at..].bytes().take_while(u8::is_ascii_digit).count();
    ua[at..at + digits].parse().ok()
}

/// Which user-agent list a pattern is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternTier {
    /// Confident patterns: `known_bot`.
    Known,
    /// Heuristics: `non_browser`.
    Heuristic,
    /// Link and mail scanners: `link_scanner`.
    Scanner,
}

/// What the request looked like, as far as classification cares.
pub struct Signals<'a> {
    pub method: &'a str,
    pub headers: &'a dyn Headers,
    /// The `User-Agent` header, empty when absent.
    pub user_agent: &'a str,
    /// The client address, in full (only what the privacy mode allows is
    /// ever written).
    pub ip: Option<IpAddr>,
    /// `test=1` on the signed URL.
    pub test: bool,
    /// The URL's signed `exp` has passed.
    pub expired: bool,
    /// The URL's `pub` (empty when absent).
    pub publisher: &'a str,
    /// Over this server's own TLS listener.
    pub secure: bool,
}

/// Data-center networks by autonomous system: an ASN database and the AS
/// numbers that count as data centers.
#[derive(Debug)]
pub struct DatacenterAsns {
    pub db: crate::geo::AsnDb,
    pub numbers: std::collections::HashSet<u32>,
}

impl DatacenterAsns {
    /// The address's AS number, when it is a listed data center.
    pub fn lookup(&self, ip: IpAddr) -> Option<u32> {
        self.db.lookup(ip).filter(|n| self.numbers.contains(n))
    }

    /// AS numbers from a list's text, one a line, `#` comments; the error
    /// names the line.
    pub fn parse_numbers(text: &str) -> Result<Vec<u32>, String> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let n = line.strip_prefix("AS").unwrap_or(line);
            out.push(n.parse().map_err(|_| {
                format!(
                    "line {}: {line:?} is not an AS number (16509 or AS16509)",
                    i + 1
                )
            })?);
        }
        Ok(out)
    }
}

/// The lists and actions in force; built whole from the config and its
/// files, shared read-only, replaced whole on reload.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    pub bots: BotLists,
    /// The IAB IP exclusion list: robots by address.
    pub bot_ips: IpSet,
    pub internal: IpSet,
    pub datacenter: IpSet,
    /// `geo.asn_db` and the data-center AS numbers, when configured.
    pub asns: Option<std::sync::Arc<DatacenterAsns>>,
    /// Publishers on hold or suspended (`ivt.publisher_status_file`).
    pub publishers: PublisherStatuses,
    /// `ivt.header_consistency`: a current Chromium over TLS that sends
    /// neither client hints nor `Sec-Fetch-*` is `non_browser` (flagged).
    pub header_consistency: bool,
    pub actions: Actions,
}

impl Classifier {
    /// The first reason that applies, in the contract's order, except
    /// `duplicate` (see [`DuplicateWindow`]); `None` is a valid click so far.
    pub fn classify(&self, s: &Signals<'_>) -> Option<Reason> {
        self.classify_with(s, self.bots.classify_with_rule(s.user_agent))
            .map(|(r, _)| r)
    }

    /// [`Classifier::classify`] with the rule, and with the user agent's
    /// own verdict ([`BotLists::classify_with_rule`]) given, as a cache of
    /// it remembers it.
    pub fn classify_with(
        &self,
        s: &Signals<'_>,
        ua_verdict: Option<(Reason, Rule)>,
    ) -> Option<(Reason, Rule)> {
        if let Some(h) = prefetch_header(s.headers) {
            return Some((Reason::Prefetch, Rule::Prefetch(h)));
        }
        if let Some(net) = s.ip.and_then(|ip| self.bot_ips.lookup(ip)) {
            return Some((Reason::KnownBot, Rule::IabIp(net)));
        }
        if let Some(v) = ua_verdict {
            return Some(v);
        }
        if self.header_consistency && s.secure && lacks_browser_headers(s.headers, s.user_agent) {
            return Some((Reason::NonBrowser, Rule::BrowserHeaders));
        }
        if s.method == "HEAD" {
            return Some((Reason::HeadRequest, Rule::HeadRequest));
        }
        if let Some(ip) = s.ip {
            if let Some(net) = self.internal.lookup(ip) {
                return Some((Reason::InternalIp, Rule::Internal(net)));
            }
            if let Some(net) = self.datacenter.lookup(ip) {
                return Some((Reason::DatacenterIp, Rule::Datacenter(net)));
            }
            if let Some(asn) = self.asns.as_ref().and_then(|a| a.lookup(ip)) {
                return Some((Reason::DatacenterIp, Rule::Asn(asn)));
            }
        }
        if !s.publisher.is_empty() {
            match self.publishers.get(s.publisher) {
                Some(PublisherStatus::Suspended) => {
                    return Some((Reason::PublisherSuspended, Rule::PublisherStatus))
                }
                Some(PublisherStatus::Hold) => {
                    return Some((Reason::PublisherHold, Rule::PublisherStatus))
                }
                None => {}
            }
        }
        if s.expired {
            return Some((Reason::Expired, Rule::Expired));
        }
        if s.test {
            return Some((Reason::TestClick, Rule::Test));
        }
        None
    }

    /// The rule as the event's `rule` field writes it: `open-bots:212`
    /// (list and line), `iab-exclude:40`, `datacenter:203.0.113.0/24`,
    /// `prefetch:sec-purpose`, `duplicate:impression`...
    pub fn rule_text(&self, rule: Rule) -> String {
        match rule {
            Rule::Pattern { list, source, line } => {
                let list = match list {
                    PatternTier::Known => &self.bots.patterns,
                    PatternTier::Heuristic => &self.bots.heuristics,
                    PatternTier::Scanner => &self.bots.scanners,
                };
                format!("{}:{line}", list.source_name(source))
            }
            Rule::IabExclude { line } => format!("iab-exclude:{line}"),
            Rule::IabInclude => "iab-include:none".into(),
            Rule::IabIp(net) => format!("iab-ip:{net}"),
            Rule::EmptyUserAgent => "user-agent:empty".into(),
            Rule::Prefetch(h) => format!("prefetch:{h}"),
            Rule::HeadRequest => "method:head".into(),
            Rule::Internal(net) => format!("internal:{net}"),
            Rule::Datacenter(net) => format!("datacenter:{net}"),
            Rule::Asn(n) => format!("asn:{n}"),
            Rule::PublisherStatus => "strikes:publisher-status".into(),
            Rule::Expired => "url:exp".into(),
            Rule::Test => "url:test".into(),
            Rule::Duplicate(kind) => format!("duplicate:{kind}"),
            Rule::BrowserHeaders => "headers:chromium-without-sec-fetch-or-client-hints".into(),
        }
    }

    /// Whether a reason blocks the click (see [`Actions::blocks`]).
    pub fn blocks(&self, reason: Reason) -> bool {
        self.actions.blocks(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_declaration_order() {
        let mut sorted = Reason::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Reason::ALL);
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

    #[test]
    fn the_shipped_asn_list_parses_and_bad_lines_are_named() {
        let n = DatacenterAsns::parse_numbers(BUILTIN_DATACENTER_ASNS).unwrap();
        assert!(n.contains(&16509) && n.contains(&14061), "{n:?}");
        assert!(!n.contains(&13335), "Cloudflare carries people (WARP)");
        assert_eq!(
            DatacenterAsns::parse_numbers("AS64500 # x\n\n1").unwrap(),
            [64500, 1]
        );
        assert!(DatacenterAsns::parse_numbers("1\nx\n")
            .unwrap_err()
            .contains("line 2"));
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
        assert_eq!(Actions::from_config(&BTreeMap::new()), Ok(c.actions));
    }

    #[test]
    fn actions_by_reason_name() {
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
            p[0].starts_with(
                "ivt.actions.known_bots: no such reason; use one of prefetch, known_bot"
            ),
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
}
