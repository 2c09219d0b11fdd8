//! Invalid-traffic classification: is this click a person's?
//!
//! Owns: the [`Reason`]s of docs/contract.md §5 and their precedence, the verdict each
//! gives, and what the edge does about it ([`Action`]).
//!
//! Invariants: classification reads only the request (headers, method,
//! address) and shared read-only state; it does no I/O and takes no lock,
//! and it allocates only to name the pattern a bot's user agent matched
//! (the decider caches that per user agent). When several reasons apply,
//! the first in docs/contract.md §5's order wins; [`Reason`]'s declaration
//! order *is* that order. The lists are built whole by
//! [`Classifier::from_config`], each owner from its part of `ivt`.
//!
//! Does not: decide the HTTP answer (that is [`crate::decide`]), or log.
//!
//! The signals, cheapest and most decisive first within docs/contract.md §5's order:
//! prefetch headers; the user agent against the bot lists and the client
//! address against the IAB robot IPs (`known_bot`); the link-scanner list;
//! an empty user agent, a heuristic, one the IAB include list does not
//! know, or a Chromium over TLS without its headers (`non_browser`); HEAD; the
//! internal and data-center ranges; `test=1`; and last the duplicate
//! window, which is the only stateful check and so lives with the edge
//! ([`DuplicateWindow`]) rather than in the reloadable [`Classifier`].

mod asns;
pub(crate) mod bots;
pub(crate) mod duplicate;
pub(crate) mod iplist;
pub(crate) mod list_file;
mod prefetch;
pub(crate) mod publishers;

pub(crate) use asns::DatacenterAsns;
pub(crate) use bots::BotLists;
pub use duplicate::DuplicateWindow;
pub(crate) use iplist::{IpLists, IpSet};
pub(crate) use prefetch::prefetch_header;
pub(crate) use publishers::{PublisherStatus, PublisherStatuses};

use crate::closed_set::closed_set;
use crate::config::{ActionKind, GeoConfig, IvtConfig, Problems};
use crate::request::Headers;
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
    /// its rule in `Classifier::classify` (or in the decider, for
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
    Duplicate(duplicate::KeyedOn),
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
    use crate::request::names::*;
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

/// The lists a rules bundle adds to the operator's own (docs/contract.md
/// §8), by the bundle's file; each is loaded beside the list of the same
/// kind that `ivt` names.
#[derive(Debug, Clone, Copy, Default)]
pub struct BundleLists<'a> {
    /// `bot_patterns.txt`: blocks like `ivt.bots.pattern_files`.
    pub bot_patterns: Option<&'a str>,
    /// `link_scanners.txt`.
    pub link_scanners: Option<&'a str>,
    /// `internal_ips.txt`.
    pub internal_ips: Option<&'a str>,
    /// `datacenter_ips.txt`.
    pub datacenter_ips: Option<&'a str>,
    /// `datacenter_asns.txt`.
    pub datacenter_asns: Option<&'a str>,
    /// `publishers.tsv`, merged with `ivt.publisher_status_file`.
    pub publishers: Option<&'a str>,
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
    /// Builds everything `ivt` names (and `geo.asn_db`, which the
    /// data-center AS numbers need), with the rules bundle's lists beside
    /// the operator's. `Err` lists every problem, each naming its key, and
    /// the file and line of a list.
    pub fn from_config(
        cfg: &IvtConfig,
        geo: &GeoConfig,
        bundle: &BundleLists<'_>,
    ) -> Result<Classifier, Problems> {
        let mut p = Problems::default();
        let actions = p.take(Actions::from_config(&cfg.actions));
        let bots = p.take(BotLists::from_config(&cfg.bots, bundle));
        let ips = p.take(IpLists::from_config(cfg, bundle));
        let publishers = p.take(PublisherStatuses::from_config(
            cfg.publisher_status_file.as_deref(),
            bundle.publishers,
        ));
        let asns = p.take(DatacenterAsns::from_config(cfg, geo, bundle));
        let (Some(actions), Some(bots), Some(ips), Some(publishers), Some(asns)) =
            (actions, bots, ips, publishers, asns)
        else {
            return Err(p);
        };
        p.or(Classifier {
            bots,
            bot_ips: ips.robots,
            internal: ips.internal,
            datacenter: ips.datacenter,
            asns,
            publishers,
            header_consistency: cfg.header_consistency,
            actions,
        })
    }

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
                format!("{}:{line}", self.bots.source_name(list, source))
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
            Rule::Duplicate(on) => format!("duplicate:{}", on.as_str()),
            Rule::BrowserHeaders => "headers:chromium-without-sec-fetch-or-client-hints".into(),
        }
    }

    /// Whether a reason blocks the click (see [`Actions::blocks`]).
    pub fn blocks(&self, reason: Reason) -> bool {
        self.actions.blocks(reason)
    }
}

#[cfg(test)]
mod tests;
