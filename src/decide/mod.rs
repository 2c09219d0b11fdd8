//! The click core: one pure decision per request on the edge's own paths,
//! made without a server. Both doors call it: the plugin
//! ([`crate::edge::proxy::ClickEdge::handle`], from any Pingora `ProxyHttp`) and
//! `clickedge serve`.
//!
//! ```text
//! Request ─► decide ─► Decision::Pass                (not ours: the caller's own logic)
//!                  └─► Decision::Answer { status, Location, text, event, outcome }
//!   parse + verify ─► classify ─► duplicate window ─► Location ─► event bytes
//! ```
//!
//! Owns: which paths are the edge's (`/c`, `/b`, `/robots.txt`,
//! `/healthz`), which methods each takes, what every answer on them is
//! (docs/contract.md §4), and the event of every click (§5).
//!
//! Invariants: `decide` does no I/O, takes no lock but a duplicate-window
//! shard's (a map lookup), and never waits; the time comes from the caller.
//! Its only state is the duplicate window, which every counted click opens.
//! A click's event exists exactly when the click got past the signature
//! checks; nothing reaches a `Location` unchecked.
//!
//! Costs a click pays here: an `ArcSwap` load of the policy, the HMAC of its
//! query, the lists' automata over the user agent, one shard lock of the
//! duplicate window, and its allocations: the `Location`, the event line,
//! and, when there is one, the lowercased referrer host and a flagged
//! click's rule text.
//!
//! Does not: read a body, write an answer, count metrics or queue the event:
//! that is the caller's glue, in the order the [`Answer`] says.

use crate::click::{self, ClickError};
use crate::device::Device;
use crate::event::{self, DataUse, Event};
use crate::ivt::duplicate::{DupKind, KeyedOn};
use crate::ivt::{Action, DuplicateWindow, Reason, Rule, Signals, Verdict};
use crate::policy::Policy;
use crate::privacy::Privacy;
use arc_swap::ArcSwap;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub use crate::request::Request;

/// `Cache-Control` of a redirect (docs/contract.md §4): no cache anywhere
/// may keep it, or the next user's click would never reach the edge.
pub(crate) const REDIRECT_CACHE_CONTROL: &str =
    "no-store, no-cache, must-revalidate, private, max-age=0";

/// Disallows the click paths, and nothing else of the origin's site.
/// `Disallow` is a prefix match, so `/c?` rather than `/c` (which would
/// also hide `/cars`); `$` anchors the bare paths for crawlers that
/// support it.
pub(crate) const ROBOTS_TXT: &str =
    "User-agent: *\nDisallow: /c?\nDisallow: /c$\nDisallow: /b?\nDisallow: /b$\n";

/// The time of a request: the wall clock for the event, the monotonic one
/// for the duplicate window (a wall clock stepped back must not make every
/// click a duplicate).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub wall: SystemTime,
    pub mono: Instant,
}

impl Now {
    pub fn current() -> Now {
        Now {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Decision {
    /// Not one of the edge's paths: the caller's own logic answers it.
    Pass,
    Answer(Answer),
}

/// One answer, decided before anything is written.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// For a redirect: the landing URL with the click id added. The header
    /// set of a redirect goes with it (no-store, `Pragma`, `Expires`).
    pub location: Option<String>,
    /// A short plain-text body (robots.txt, health, a refusal's reason);
    /// `None`: no body (`Content-Length: 0`, or nothing for a 204).
    pub text: Option<Cow<'static, str>>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
    /// A beacon's POST body is read (up to `click.beacon_max_body_bytes`)
    /// and ignored before answering.
    pub read_body: bool,
    /// The event line to queue, for a click past the signature checks.
    pub event: Option<Vec<u8>>,
    pub outcome: Outcome,
}

/// What the answer was, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `/robots.txt` or `/healthz`.
    Page,
    /// A method the path does not take (405).
    BadMethod,
    /// Refused before any redirect (a 4xx): `clickedge_refused_total`.
    Refused(ClickError),
    /// A click or beacon past the signature checks: `clickedge_clicks_total`.
    Click {
        reason: Option<Reason>,
        action: Action,
    },
}

impl Outcome {
    /// Whether the answer is a click's (decided, refused or not): what the
    /// latency histogram measures.
    pub fn is_click(&self) -> bool {
        matches!(self, Outcome::Refused(_) | Outcome::Click { .. })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Click,
    Beacon,
}

/// Everything a decision reads: the policy (swapped whole on reload), the
/// privacy mode, the duplicate window and the settings of the click paths.
pub struct Decider {
    policy: Arc<ArcSwap<Policy>>,
    privacy: Privacy,
    duplicates: DuplicateWindow,
    clickid_param: String,
    robots_txt: bool,
    edge_id: String,
}

/// The settings of the click paths that do not reload.
#[derive(Debug, Clone)]
pub struct DeciderSettings {
    pub clickid_param: String,
    pub robots_txt: bool,
    pub edge_id: String,
    pub duplicate_window: std::time::Duration,
    pub duplicate_max_entries: usize,
}

impl Decider {
    pub fn new(policy: Policy, privacy: Privacy, s: &DeciderSettings) -> Decider {
        Decider {
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            privacy,
            duplicates: DuplicateWindow::new(s.duplicate_window, s.duplicate_max_entries),
            clickid_param: s.clickid_param.clone(),
            robots_txt: s.robots_txt,
            edge_id: s.edge_id.clone(),
        }
    }

    /// This edge's id, as events carry it.
    pub(crate) fn edge_id(&self) -> &str {
        &self.edge_id
    }

    /// The slot the policy lives in, for a reloader: `store` a new policy
    /// there and the next request uses it; requests in flight finish with
    /// the one they loaded.
    pub fn policy_slot(&self) -> Arc<ArcSwap<Policy>> {
        self.policy.clone()
    }

    /// The answer to one request, or `Pass` when the path is not the edge's.
    pub fn decide(&self, req: &Request<'_>, now: Now) -> Decision {
        let endpoint = match req.path {
            "/c" => Endpoint::Click,
            "/b" => Endpoint::Beacon,
            "/robots.txt" if self.robots_txt => return page(ROBOTS_TXT),
            "/healthz" => return page("ok\n"),
            _ => return Decision::Pass,
        };
        let allowed = match endpoint {
            // POST: an ad platform's parallel-tracking beacon, which follows
            // the redirect (docs/contract.md §4).
            Endpoint::Click => matches!(req.method, "GET" | "HEAD" | "POST"),
            Endpoint::Beacon => matches!(req.method, "GET" | "POST"),
        };
        if !allowed {
            return Decision::Answer(Answer {
                status: 405,
                text: Some(Cow::Borrowed("method not allowed\n")),
                allow: Some(match endpoint {
                    Endpoint::Click => "GET, HEAD, POST",
                    Endpoint::Beacon => "GET, POST",
                }),
                ..Answer::empty(Outcome::BadMethod)
            });
        }
        let read_body = req.method == "POST";
        let answer = match self.click(req, endpoint, now) {
            Ok(a) => a,
            Err(e) => Answer {
                status: e.status(),
                text: Some(Cow::Owned(format!("{e}\n"))),
                ..Answer::empty(Outcome::Refused(e))
            },
        };
        Decision::Answer(Answer {
            read_body,
            ..answer
        })
    }

    /// Verify, classify, build the answer and encode the event.
    fn click(&self, req: &Request<'_>, endpoint: Endpoint, now: Now) -> Result<Answer, ClickError> {
        let policy = self.policy.load();
        let click = click::parse(req.query, &policy.click)?;
        let user_agent = req.header_str(&http::header::USER_AGENT);
        let now_secs = now
            .wall
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ua = self.user_agent_facts(&policy, &user_agent);
        let finding = policy
            .ivt
            .classify_with(
                &Signals {
                    method: req.method,
                    headers: req.headers,
                    user_agent: &user_agent,
                    ip: req.client_ip,
                    test: click.test,
                    expired: click.expires.is_some_and(|exp| now_secs >= exp),
                    publisher: &click.publisher,
                    secure: req.secure,
                },
                ua.bot,
            )
            // Last in the contract's order, and only for a click that
            // would count.
            .or_else(|| self.duplicate(&click, req, &user_agent, now));
        let reason = finding.map(|(r, _)| r);
        // The header-consistency signal only ever flags (docs/accuracy.md).
        let blocked =
            finding.is_some_and(|(r, rule)| policy.ivt.blocks(r) && rule != Rule::BrowserHeaders);
        let action = match (blocked, endpoint) {
            (true, _) => Action::Blocked,
            (false, Endpoint::Click) => Action::Redirected,
            (false, Endpoint::Beacon) => Action::Beacon,
        };

        let mut id_buf = uuid::Uuid::encode_buffer();
        let click_id: &str = click_id(now).hyphenated().encode_lower(&mut id_buf);
        let (status, location) = match action {
            Action::Redirected => (302, Some(self.location(&click, click_id)?)),
            Action::Beacon => (204, None),
            Action::Blocked if reason == Some(Reason::Prefetch) => (503, None),
            Action::Blocked => (403, None),
        };
        let judged = Judged {
            reason,
            rule: finding.map(|(_, rule)| policy.ivt.rule_text(rule)),
            action,
            ua,
            user_agent: &user_agent,
            click_id,
        };
        let event = self.event(req, now, &policy, &click, &judged);
        Ok(Answer {
            status,
            location,
            event: Some(event),
            ..Answer::empty(Outcome::Click { reason, action })
        })
    }

    /// A duplicate of a counted click within the window. The key: the
    /// impression; for a template click, the platform's click id; without
    /// either, the address and agent. Records the click when it is not.
    fn duplicate(
        &self,
        click: &click::Click<'_>,
        req: &Request<'_>,
        user_agent: &str,
        now: Now,
    ) -> Option<(Reason, Rule)> {
        let (key, kind) = if !click.impression.is_empty() {
            (
                self.duplicates.key(&click.campaign, &click.impression),
                KeyedOn::Impression,
            )
        } else if let Some((_, id)) = &click.platform {
            (
                self.duplicates
                    .key_of(&click.campaign, DupKind::PlatformId, &[id.as_bytes()]),
                KeyedOn::PlatformClickId,
            )
        } else {
            let ip = match req.client_ip {
                Some(std::net::IpAddr::V4(a)) => a.to_ipv6_mapped().octets(),
                Some(std::net::IpAddr::V6(a)) => a.octets(),
                None => [0; 16],
            };
            (
                self.duplicates.key_of(
                    &click.campaign,
                    DupKind::AddressAndAgent,
                    &[&ip, user_agent.as_bytes()],
                ),
                KeyedOn::AddressAndAgent,
            )
        };
        self.duplicates
            .check_and_record(key, self.duplicates.ms_at(now.mono))
            .then_some((Reason::Duplicate, Rule::Duplicate(kind)))
    }

    /// The `Location` of a redirect: the landing URL with the click id.
    /// The URL parser never writes a control character; a Location that
    /// still could not be a header value is refused.
    fn location(&self, click: &click::Click<'_>, click_id: &str) -> Result<String, ClickError> {
        let location = click::location(&click.landing, &self.clickid_param, click_id);
        if !location.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ClickError::BadLanding);
        }
        Ok(location)
    }

    /// The click's event line (docs/contract.md §5), with no more about
    /// the person than the privacy mode and their opt-out allow.
    fn event(
        &self,
        req: &Request<'_>,
        now: Now,
        policy: &Policy,
        click: &click::Click<'_>,
        judged: &Judged<'_>,
    ) -> Vec<u8> {
        let device = if judged.reason == Some(Reason::KnownBot) {
            Device::Bot
        } else {
            crate::device::from_tokens(
                judged.ua.device_tokens,
                req.header(&crate::request::names::SEC_CH_UA_MOBILE),
            )
        };
        // Opted out (GPC, DNT, or a child-directed ad): counted and
        // redirected, but no address, no referrer, only the device class.
        let data_use = if click.child_directed {
            DataUse::ChildDirected
        } else if self
            .privacy
            .opt_out_headers()
            .iter()
            .any(|h| req.header(h).is_some_and(|v| v.trim_ascii() == b"1"))
        {
            DataUse::OptedOut
        } else {
            DataUse::Standard
        };
        let opted_out = data_use != DataUse::Standard;
        let (ip, ip_full) = self.privacy.ip_fields(req.client_ip, opted_out, now.wall);
        // From the full address in memory; only the two-letter code is kept.
        let country = match (&policy.country, req.client_ip) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => crate::geo::Country::default(),
        };
        let logged_ua = if opted_out {
            Cow::Borrowed(device.as_str())
        } else if judged.ua.clean {
            Cow::Borrowed(judged.user_agent)
        } else {
            self.privacy.user_agent(judged.user_agent)
        };
        let referrer_host = if opted_out {
            String::new()
        } else {
            self.privacy.referrer_host(
                event::referrer_host(&req.header_str(&http::header::REFERER)).to_ascii_lowercase(),
            )
        };
        Event {
            ts: now.wall,
            click_id: judged.click_id,
            campaign: &click.campaign,
            impression: &click.impression,
            publisher: &click.publisher,
            landing_host: click.landing_host(),
            verdict: Verdict::of(judged.reason),
            reason: judged.reason,
            action: judged.action,
            method: req.method,
            ip,
            user_agent: &logged_ua,
            device,
            country: country.as_str(),
            referrer_host: &referrer_host,
            edge: &self.edge_id,
            ip_full,
            platform: click.platform.as_ref().map(|(p, id)| (*p, id.as_ref())),
            rule: judged.rule.as_deref(),
            data_use,
        }
        .to_line()
    }
}

/// What the decision found about a click, for its event.
struct Judged<'a> {
    reason: Option<Reason>,
    rule: Option<String>,
    action: Action,
    ua: UaFacts,
    user_agent: &'a str,
    click_id: &'a str,
}

/// What a user agent alone decides, whatever else the request says: its
/// verdict from the bot lists, its device tokens, and whether it is
/// written as it is (nothing to scrub).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UaFacts {
    pub bot: Option<(Reason, Rule)>,
    pub device_tokens: u16,
    pub clean: bool,
}

/// Real traffic repeats a few hundred user agents: each worker thread
/// remembers the facts of the last ones it saw, by their exact bytes.
/// The cache belongs to one core and one policy: a reload (a new policy
/// generation) or another core on the same thread empties it. Bounded:
/// past `UA_CACHE_ENTRIES` it starts over.
struct UaCache {
    owner: (usize, u64),
    entries: std::collections::HashMap<Box<str>, UaFacts, ahash::RandomState>,
}

/// Entries a thread's user-agent cache holds before it starts over
/// (about 300 bytes each for a typical user agent).
pub(crate) const UA_CACHE_ENTRIES: usize = 4096;

thread_local! {
    static UA_CACHE: std::cell::RefCell<UaCache> = std::cell::RefCell::new(UaCache {
        owner: (0, 0),
        entries: std::collections::HashMap::default(),
    });
}

impl Decider {
    /// The facts of a user agent, from this thread's cache or computed.
    /// Costs a hit one hash of the user agent and one comparison.
    pub fn user_agent_facts(&self, policy: &Policy, ua: &str) -> UaFacts {
        let owner = (self as *const Decider as usize, policy.generation());
        UA_CACHE.with(|cell| {
            let Ok(mut cache) = cell.try_borrow_mut() else {
                return self.compute_facts(policy, ua);
            };
            if cache.owner != owner {
                cache.entries.clear();
                cache.owner = owner;
            }
            if let Some(f) = cache.entries.get(ua) {
                return *f;
            }
            let f = self.compute_facts(policy, ua);
            if cache.entries.len() >= UA_CACHE_ENTRIES {
                cache.entries.clear();
            }
            cache.entries.insert(ua.into(), f);
            f
        })
    }

    /// The facts of a user agent, computed (what the cache remembers).
    pub fn compute_facts(&self, policy: &Policy, ua: &str) -> UaFacts {
        UaFacts {
            bot: policy.ivt.bots.classify_with_rule(ua),
            device_tokens: crate::device::tokens(ua),
            clean: matches!(self.privacy.user_agent(ua), Cow::Borrowed(_)),
        }
    }
}

thread_local! {
    /// Each worker thread's UUIDv7 counter: `Uuid::now_v7` shares one
    /// behind a process-wide mutex, a lock every click of every thread
    /// would take.
    static CLICK_IDS: uuid::ContextV7 = const { uuid::ContextV7::new() };
}

/// A click id: UUIDv7 of the click's own time (the event's `ts`), ordered
/// within a thread by the thread's counter, with random bits besides.
fn click_id(now: Now) -> uuid::Uuid {
    let t = now
        .wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    CLICK_IDS.with(|ctx| {
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            ctx,
            t.as_secs(),
            t.subsec_nanos(),
        ))
    })
}

impl Answer {
    fn empty(outcome: Outcome) -> Answer {
        Answer {
            status: 200,
            location: None,
            text: None,
            allow: None,
            read_body: false,
            event: None,
            outcome,
        }
    }
}

fn page(text: &'static str) -> Decision {
    Decision::Answer(Answer {
        text: Some(Cow::Borrowed(text)),
        ..Answer::empty(Outcome::Page)
    })
}

#[cfg(test)]
mod tests;
