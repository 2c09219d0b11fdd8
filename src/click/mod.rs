//! Click URLs (docs/contract.md §3): parsing, signature checks, the landing URL, and
//! the `Location` the user is sent to.
//!
//! Owns: turning the raw query of `/c` or `/b` into a [`Click`] or a
//! [`ClickError`] that says which 4xx to answer and why.
//!
//! Invariants:
//! - A `Click` exists only if its signature verified (or signing is off and
//!   its landing host is allowed), and its landing URL is an absolute `http`
//!   or `https` URL with a host and no credentials. Nothing else can reach a
//!   `Location` header.
//! - The landing URL is re-serialised by a WHATWG URL parser before it is
//!   used, so the `Location` we send is exactly what a browser would make of
//!   it, and can never hold a control character (CR/LF).
//! - Parsing borrows from the query; ids are copied only if they were
//!   percent-encoded.
//! - Every input gives `Ok` or `Err`; nothing panics (property-tested).
//!
//! Does not: decide whether the click is valid traffic (that is `ivt`), or
//! write anything.

mod sign;

pub use sign::{Keys, SigError};

use crate::closed_set::closed_set;
use crate::config::{ClickConfig, Problems, SigningConfig};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::borrow::Cow;
use url::Url;

/// Bytes of a query component that `sign` leaves as they are: RFC 3986's
/// unreserved characters. Everything else is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest campaign, impression and publisher id (docs/contract.md §3).
pub const MAX_ID: usize = 128;

/// What the click path needs to know to accept a click. Built once from the
/// config and shared read-only.
#[derive(Debug, Clone)]
pub struct ClickPolicy {
    pub keys: Keys,
    pub signing_required: bool,
    pub allowed_hosts: Vec<HostPattern>,
    pub max_query_bytes: usize,
    /// The ad platforms' click-id parameters a template click may carry
    /// after `sig` (`click.platform_click_params`).
    pub platform_params: Vec<String>,
}

/// `click.platform_click_params` by default: Google Ads' and Microsoft
/// Advertising's click ids.
pub const PLATFORM_PARAMS: [&str; 4] = ["gclid", "gbraid", "wbraid", "msclkid"];

impl Default for ClickPolicy {
    /// No keys (so every signed click is refused), signing required.
    fn default() -> ClickPolicy {
        ClickPolicy {
            keys: Keys::default(),
            signing_required: true,
            allowed_hosts: Vec::new(),
            max_query_bytes: 4096,
            platform_params: PLATFORM_PARAMS.map(String::from).to_vec(),
        }
    }
}

impl ClickPolicy {
    /// From the `signing` section and `click.max_query_bytes`, checking
    /// the whole `click` section on the way: every problem, each named by
    /// its key.
    pub fn from_config(
        signing: &SigningConfig,
        click: &ClickConfig,
    ) -> Result<ClickPolicy, Problems> {
        let mut p = Problems::default();
        let s = signing;
        if s.required && s.keys.is_empty() {
            p.push(
                "signing.keys",
                "signing is required but no key is configured; add one \
                 (id and secret) or set signing.required: false with allowed_landing_hosts",
            );
        }
        if !s.required && s.allowed_landing_hosts.is_empty() {
            p.push(
                "signing.allowed_landing_hosts",
                "signing is off, so list the landing hosts \
                 that may be redirected to (an open redirect otherwise)",
            );
        }
        for (i, k) in s.keys.iter().enumerate() {
            if !is_id(&k.id, 64) {
                p.push(
                    format!("signing.keys[{i}].id"),
                    format!(
                        "{:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -",
                        k.id
                    ),
                );
            }
            if k.secret.len() < 16 {
                p.push(
                    format!("signing.keys[{i}].secret"),
                    format!(
                        "{} bytes is too short; use at least 16 random bytes (32 recommended)",
                        k.secret.len()
                    ),
                );
            }
            if s.keys[..i].iter().any(|o| o.id == k.id) {
                p.push(
                    format!("signing.keys[{i}].id"),
                    format!("{:?} is listed twice", k.id),
                );
            }
        }
        if let Some(id) = &s.sign_with {
            if !s.keys.iter().any(|k| &k.id == id) {
                p.push("signing.sign_with", format!("no key has id {id:?}"));
            }
        }
        let mut allowed_hosts = Vec::new();
        for h in &s.allowed_landing_hosts {
            let problem = match landing_host_pattern(h) {
                Ok(pattern) => {
                    allowed_hosts.push(pattern);
                    continue;
                }
                Err(PatternError::NotAHost) => {
                    format!("{h:?} is not a host name; write example.com or *.example.com")
                }
                Err(PatternError::TopLevelDomain) => format!(
                    "{h:?} allows every host under a top-level domain (an open \
                     redirect); name the advertiser's domain, like *.shop.example"
                ),
                Err(PatternError::PublicSuffix) => {
                    let suffix = h.trim().trim_start_matches("*.").to_ascii_lowercase();
                    format!(
                        "{h:?} allows every host under the public suffix {suffix}, where \
                         anyone can register a domain (an open redirect); name the \
                         advertiser's domain, like *.shop.{suffix}"
                    )
                }
            };
            p.push("signing.allowed_landing_hosts", problem);
        }
        if !is_id(&click.clickid_param, 64) {
            p.push(
                "click.clickid_param",
                format!(
                    "{:?} must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -",
                    click.clickid_param
                ),
            );
        }
        if !(256..=65_536).contains(&click.max_query_bytes) {
            p.push(
                "click.max_query_bytes",
                format!(
                    "{} is out of range; use 256 to 65536 (default 4096)",
                    click.max_query_bytes
                ),
            );
        }
        if click.beacon_max_body_bytes > 1024 * 1024 {
            p.push("click.beacon_max_body_bytes", "at most 1048576");
        }
        for name in &click.platform_click_params {
            if !is_id(name, 64) || RESERVED.contains(&name.as_str()) {
                p.push(
                    "click.platform_click_params",
                    format!("{name:?} is not a parameter name a click URL can spare (A-Z a-z 0-9 . _ ~ -, none of {})", RESERVED.join(" ")),
                );
            }
        }
        p.or(ClickPolicy {
            keys: Keys::new(s.keys.iter().map(|k| (k.id.as_str(), k.secret.as_bytes()))),
            signing_required: s.required,
            allowed_hosts,
            max_query_bytes: click.max_query_bytes,
            platform_params: click.platform_click_params.clone(),
        })
    }
}

/// A click that may be redirected.
#[derive(Debug, Clone)]
pub struct Click<'a> {
    pub landing: Url,
    pub campaign: Cow<'a, str>,
    pub impression: Cow<'a, str>,
    /// Empty when the URL has none.
    pub publisher: Cow<'a, str>,
    pub test: bool,
    /// `cd=1`: the ad ran on a service directed to children; the click is
    /// counted but nothing personal is logged.
    pub child_directed: bool,
    /// `exp`: after this time (unix seconds) the click is `expired`.
    pub expires: Option<u64>,
    /// A template click (its signed part names landing hosts, `lh`, and the
    /// ad platform fills in `u` after `sig`).
    pub template: bool,
    /// The platform click-id parameter after `sig` and its value.
    pub platform: Option<(&'a str, Cow<'a, str>)>,
}

impl Click<'_> {
    pub fn landing_host(&self) -> &str {
        self.landing.host_str().unwrap_or("")
    }
}

/// Why a click was refused: the status to answer, the short reason sent on
/// the wire (`Display`), and the label of its counter. The labels, their
/// indexes and the full list come from this one declaration: [`Refusal`] is
/// the variant without its data (`Refusal::VARIANTS`, `as usize`, and its
/// `snake_case` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(Refusal),
    derive(strum::IntoStaticStr, strum::VariantArray, strum::EnumCount),
    strum(serialize_all = "snake_case")
)]
pub enum ClickError {
    #[error("query too long")]
    QueryTooLong,
    #[error("bad percent-encoding in {0}")]
    BadEncoding(&'static str),
    #[error("parameter {0} given twice")]
    DuplicateParam(&'static str),
    #[error("missing parameter {0}")]
    MissingParam(&'static str),
    #[error("{0} must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    BadId(&'static str),
    #[error("test and cd must be 1 or 0")]
    BadTestFlag,
    #[error("landing URL must be an absolute http or https URL")]
    BadLanding,
    #[error("landing URL must not carry a user name or password")]
    LandingCredentials,
    #[error("missing signature (kid and sig)")]
    MissingSignature,
    #[error("sig must be the last parameter")]
    SigNotLast,
    #[error("unknown key id")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("landing host not allowed")]
    HostNotAllowed,
    #[error("only u and the ad platform's click id may follow sig")]
    ParamAfterSig,
    #[error("a template click's u follows sig, filled in by the ad platform")]
    SignedTemplateLanding,
    #[error("lh must list landing hosts like shop.example or *.shop.example")]
    BadLandingHosts,
    #[error("lh must not allow every host under a public suffix (like *.co.uk or *.github.io)")]
    PublicSuffixLandingHosts,
    #[error("exp must be a time in unix seconds")]
    BadExpiry,
    #[error("{0} must be 1 to 512 characters of A-Z a-z 0-9 . _ ~ -")]
    BadPlatformId(&'static str),
}

impl Refusal {
    /// The label of `clickedge_refused_total{reason=...}`.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

impl ClickError {
    pub fn refusal(&self) -> Refusal {
        self.into()
    }

    pub fn label(&self) -> &'static str {
        self.refusal().label()
    }

    /// 403 for anything about trust (signature, key, allowed host), 400 for
    /// anything malformed (docs/contract.md §4).
    pub fn status(&self) -> u16 {
        use ClickError::*;
        match self {
            MissingSignature | SigNotLast | UnknownKey | BadSignature | HostNotAllowed => 403,
            // A template's landing host outside its signed `lh` is a 403
            // like any landing host not allowed; the rest are malformed.
            _ => 400,
        }
    }
}

/// The id alphabet of click URLs and of the config's ids: 1 to `max` bytes
/// of `[A-Za-z0-9._~-]`.
pub fn is_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// An allowed landing host: `example.com` matches that host only,
/// `*.example.com` any host below it (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// Stored with its leading dot: `.example.com`.
    Subdomains(String),
}

impl HostPattern {
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

/// Parameter names a click URL uses itself.
const RESERVED: [&str; 11] = [
    "u", "cmp", "imp", "pub", "test", "cd", "kid", "sig", "exp", "lh", "clickid",
];

/// The known parameters, as they appear in the raw query.
#[derive(Default)]
struct RawParams<'a> {
    u: Option<&'a str>,
    exp: Option<&'a str>,
    lh: Option<&'a str>,
    cmp: Option<&'a str>,
    imp: Option<&'a str>,
    publisher: Option<&'a str>,
    test: Option<&'a str>,
    cd: Option<&'a str>,
    kid: Option<&'a str>,
    sig: Option<&'a str>,
}

/// Parses and checks the raw query string (without `?`) of a click.
pub fn parse<'a>(query: &'a str, policy: &ClickPolicy) -> Result<Click<'a>, ClickError> {
    if query.len() > policy.max_query_bytes {
        return Err(ClickError::QueryTooLong);
    }
    let mut raw = RawParams::default();
    // Byte offset where the `sig=` segment starts, once seen.
    let mut sig_at: Option<usize> = None;
    let mut offset = 0;
    // A template's platform-filled tail: the landing URL and a click id.
    let mut tail_u: Option<&str> = None;
    let mut platform: Option<(&str, &str)> = None;
    for seg in query.split('&') {
        let start = offset;
        offset += seg.len() + 1;
        if seg.is_empty() {
            continue;
        }
        let (name, value) = seg.split_once('=').unwrap_or((seg, ""));
        if sig_at.is_some() {
            // After `sig`, a classic click has nothing; a template has what
            // the ad platform fills in, and nothing else.
            if raw.lh.is_none() {
                return Err(ClickError::SigNotLast);
            }
            if !valid_percent(value) {
                return Err(ClickError::BadEncoding("query"));
            }
            if name == "u" {
                if tail_u.replace(value).is_some() {
                    return Err(ClickError::DuplicateParam("u"));
                }
            } else if policy.platform_params.iter().any(|p| p == name) {
                match platform {
                    None => platform = Some((name, value)),
                    Some((seen, _)) if seen == name => {
                        return Err(ClickError::DuplicateParam("platform click id"))
                    }
                    // Another platform parameter too (Google fills gclid and
                    // sometimes gbraid): the first one is the click's.
                    Some(_) => {}
                }
            } else {
                return Err(ClickError::ParamAfterSig);
            }
            continue;
        }
        let (label, slot) = match name {
            "u" => ("u", &mut raw.u),
            "exp" => ("exp", &mut raw.exp),
            "lh" => ("lh", &mut raw.lh),
            "cmp" => ("cmp", &mut raw.cmp),
            "imp" => ("imp", &mut raw.imp),
            "pub" => ("pub", &mut raw.publisher),
            "test" => ("test", &mut raw.test),
            "cd" => ("cd", &mut raw.cd),
            "kid" => ("kid", &mut raw.kid),
            "sig" => {
                sig_at = Some(start);
                ("sig", &mut raw.sig)
            }
            _ => {
                // Unknown parameters are covered by the signature and ignored,
                // but must still be well-formed.
                if !valid_percent(name) || !valid_percent(value) {
                    return Err(ClickError::BadEncoding("query"));
                }
                continue;
            }
        };
        if !valid_percent(value) {
            return Err(ClickError::BadEncoding(label));
        }
        if slot.replace(value).is_some() {
            return Err(ClickError::DuplicateParam(label));
        }
    }

    if policy.signing_required {
        let (Some(kid), Some(sig), Some(at)) = (raw.kid, raw.sig, sig_at) else {
            return Err(ClickError::MissingSignature);
        };
        let signed = &query[..at.saturating_sub(1)];
        policy
            .keys
            .verify(kid, signed.as_bytes(), sig)
            .map_err(|e| match e {
                SigError::UnknownKey => ClickError::UnknownKey,
                SigError::Malformed | SigError::Mismatch => ClickError::BadSignature,
            })?;
    }

    let template = raw.lh.is_some();
    let landing_raw = if template {
        if raw.u.is_some() {
            return Err(ClickError::SignedTemplateLanding);
        }
        tail_u
    } else {
        raw.u
    };
    let landing = parse_landing(landing_raw.ok_or(ClickError::MissingParam("u"))?)?;
    let campaign = id_param(raw.cmp, "cmp")?;
    // A template has no impression of its own: the platform's click id
    // stands in for it (docs/contract.md §5).
    let impression = match raw.imp {
        None if template => Cow::Borrowed(""),
        imp => id_param(imp, "imp")?,
    };
    let expires = match raw.exp {
        None => None,
        Some(e) => Some(
            e.parse::<u64>()
                .ok()
                .filter(|_| !e.starts_with('+'))
                .ok_or(ClickError::BadExpiry)?,
        ),
    };
    let platform = match platform {
        None => None,
        Some((name, value)) => {
            let label = PLATFORM_LABEL;
            let id = decode(value, label)?;
            if !is_id(&id, 512) {
                return Err(ClickError::BadPlatformId(label));
            }
            Some((name, id))
        }
    };
    let publisher = match raw.publisher {
        None | Some("") => Cow::Borrowed(""),
        some => id_param(some, "pub")?,
    };
    let flag = |v: Option<&str>| match v {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(_) => Err(ClickError::BadTestFlag),
    };
    let click = Click {
        landing,
        campaign,
        impression,
        publisher,
        test: flag(raw.test)?,
        child_directed: flag(raw.cd)?,
        expires,
        template,
        platform,
    };
    if let Some(lh) = raw.lh {
        // The landing host the platform filled in must be one the signed
        // part allows.
        let lh = decode(lh, "lh")?;
        let host = click.landing_host();
        let mut any = false;
        let mut allowed = false;
        for pattern in lh.split(',') {
            allowed |= lh_pattern(pattern)?.matches(host);
            any = true;
        }
        if !any {
            return Err(ClickError::BadLandingHosts);
        }
        if !allowed {
            return Err(ClickError::HostNotAllowed);
        }
    }
    if !policy.allowed_hosts.is_empty() {
        let host = click.landing_host();
        if !policy.allowed_hosts.iter().any(|p| p.matches(host)) {
            return Err(ClickError::HostNotAllowed);
        }
    } else if !policy.signing_required {
        // Unsigned and no host listed: nothing vouches for the landing URL
        // (a policy built by hand; `check` refuses such a config).
        return Err(ClickError::HostNotAllowed);
    }
    Ok(click)
}

/// The label a bad platform click id is refused with.
const PLATFORM_LABEL: &str = "the platform click id";

/// Why a landing host pattern is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
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
pub fn landing_host_pattern(s: &str) -> Result<HostPattern, PatternError> {
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
fn lh_pattern(s: &str) -> Result<HostPattern, ClickError> {
    landing_host_pattern(s).map_err(|e| match e {
        PatternError::PublicSuffix => ClickError::PublicSuffixLandingHosts,
        PatternError::NotAHost | PatternError::TopLevelDomain => ClickError::BadLandingHosts,
    })
}

/// Every `%` is followed by two hex digits.
fn valid_percent(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'%') {
        let at = i + p;
        match b.get(at + 1..at + 3) {
            Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i = at + 3,
            _ => return false,
        }
    }
    true
}

/// Percent-decodes into one allocation of the encoded length (the crate's
/// own `decode_utf8` grows its buffer three or four times on a landing URL).
fn decode<'a>(raw: &'a str, label: &'static str) -> Result<Cow<'a, str>, ClickError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut bytes = Vec::with_capacity(raw.len());
    bytes.extend(percent_decode_str(raw));
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| ClickError::BadEncoding(label))
}

fn id_param<'a>(raw: Option<&'a str>, label: &'static str) -> Result<Cow<'a, str>, ClickError> {
    let v = decode(raw.ok_or(ClickError::MissingParam(label))?, label)?;
    if is_id(&v, MAX_ID) {
        Ok(v)
    } else {
        Err(ClickError::BadId(label))
    }
}

fn parse_landing(raw: &str) -> Result<Url, ClickError> {
    let text = decode(raw, "u")?;
    let url = Url::parse(&text).map_err(|_| ClickError::BadLanding)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ClickError::BadLanding);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClickError::LandingCredentials);
    }
    Ok(url)
}

/// The `Location` for a click: the landing URL with `param=click_id` added
/// to its query, before any fragment. A parameter of the same name already
/// in the landing URL is removed, so the landing page sees one click id.
/// `param` and `click_id` are of the id alphabet and need no encoding.
pub fn location(landing: &Url, param: &str, click_id: &str) -> String {
    let base = &landing[..url::Position::AfterPath];
    let fragment = landing.fragment();
    let query = landing.query().unwrap_or("");
    let mut out = String::with_capacity(
        base.len()
            + query.len()
            + param.len()
            + click_id.len()
            + 3
            + fragment.map_or(0, |f| f.len() + 1),
    );
    out.push_str(base);
    out.push('?');
    for seg in query.split('&') {
        let name = seg.split_once('=').map_or(seg, |(n, _)| n);
        if seg.is_empty() || name == param {
            continue;
        }
        out.push_str(seg);
        out.push('&');
    }
    out.push_str(param);
    out.push('=');
    out.push_str(click_id);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// What `clickedge sign` mints.
#[derive(Debug, Clone, Default)]
pub struct SignRequest<'a> {
    pub landing: &'a str,
    pub campaign: &'a str,
    pub impression: &'a str,
    pub publisher: Option<&'a str>,
    pub test: bool,
    /// `cd=1`: child-directed.
    pub child_directed: bool,
    /// `exp`: the click expires at this time (unix seconds).
    pub expires: Option<u64>,
}

/// Mints a signed click path and query, `/c?...&kid=..&sig=..`, and checks
/// it the way the edge will, so a URL that `sign` prints is one the edge
/// accepts (with the same keys and `click.max_query_bytes`): a query longer
/// than `max_query_bytes` is refused here rather than by the edge.
pub fn sign(
    keys: &Keys,
    kid: &str,
    req: &SignRequest<'_>,
    max_query_bytes: usize,
) -> Result<String, ClickError> {
    sign_for(keys, kid, req, max_query_bytes, &[])
}

/// [`sign`], refusing a landing host the edge would refuse: when
/// `allowed_hosts` is not empty, the landing URL's host must match one.
pub fn sign_for(
    keys: &Keys,
    kid: &str,
    req: &SignRequest<'_>,
    max_query_bytes: usize,
    allowed_hosts: &[HostPattern],
) -> Result<String, ClickError> {
    let mut q = format!(
        "u={}&cmp={}&imp={}",
        utf8_percent_encode(req.landing, COMPONENT),
        utf8_percent_encode(req.campaign, COMPONENT),
        utf8_percent_encode(req.impression, COMPONENT),
    );
    if let Some(p) = req.publisher {
        q.push_str("&pub=");
        q.extend(utf8_percent_encode(p, COMPONENT));
    }
    if req.test {
        q.push_str("&test=1");
    }
    if req.child_directed {
        q.push_str("&cd=1");
    }
    if let Some(e) = req.expires {
        q.push_str(&format!("&exp={e}"));
    }
    seal(keys, kid, &mut q)?;
    let policy = ClickPolicy {
        keys: keys.clone(),
        allowed_hosts: allowed_hosts.to_vec(),
        max_query_bytes,
        ..ClickPolicy::default()
    };
    parse(&q, &policy)?;
    Ok(format!("/c?{q}"))
}

/// Appends `&kid=..&sig=..` to a query.
fn seal(keys: &Keys, kid: &str, q: &mut String) -> Result<(), ClickError> {
    q.push_str("&kid=");
    q.extend(utf8_percent_encode(kid, COMPONENT));
    let sig = keys.sign(kid, q.as_bytes()).ok_or(ClickError::UnknownKey)?;
    q.push_str("&sig=");
    q.push_str(&sig);
    Ok(())
}

closed_set! {
    /// The ad platforms `clickedge sign --template` writes tracking
    /// templates for.
    pub enum Platform {
        Google,
        Microsoft,
    }
}

impl Platform {
    /// The click-id parameter the template carries, and the platform's
    /// placeholder for its value.
    pub fn click_param(self) -> &'static str {
        match self {
            Platform::Google => "gclid",
            Platform::Microsoft => "msclkid",
        }
    }

    /// The platform a click-id parameter belongs to (for reports).
    pub fn of_param(param: &str) -> Option<Platform> {
        match param {
            "gclid" | "gbraid" | "wbraid" => Some(Platform::Google),
            "msclkid" => Some(Platform::Microsoft),
            _ => None,
        }
    }
}

/// What `clickedge sign --template` mints.
#[derive(Debug, Clone)]
pub struct TemplateRequest<'a> {
    pub platform: Platform,
    pub campaign: &'a str,
    pub publisher: Option<&'a str>,
    /// Landing host patterns (`shop.example`, `*.shop.example`): `lh`.
    pub landing_hosts: &'a [String],
    pub expires: Option<u64>,
}

/// Mints a tracking template, `/c?cmp=..&lh=..&kid=..&sig=..&u={lpurl}&gclid={gclid}`
/// (docs/contract.md §3): the platform fills in the placeholders at click
/// time. Checked the way the edge will check a filled-in one, with the
/// first landing host.
pub fn sign_template(
    keys: &Keys,
    kid: &str,
    req: &TemplateRequest<'_>,
    policy: &ClickPolicy,
) -> Result<String, ClickError> {
    if req.landing_hosts.is_empty() {
        return Err(ClickError::BadLandingHosts);
    }
    for h in req.landing_hosts {
        lh_pattern(h)?;
    }
    let mut q = format!("cmp={}", utf8_percent_encode(req.campaign, COMPONENT));
    if let Some(p) = req.publisher {
        q.push_str("&pub=");
        q.extend(utf8_percent_encode(p, COMPONENT));
    }
    if let Some(e) = req.expires {
        q.push_str(&format!("&exp={e}"));
    }
    q.push_str("&lh=");
    q.extend(utf8_percent_encode(&req.landing_hosts.join(","), COMPONENT));
    seal(keys, kid, &mut q)?;
    let param = req.platform.click_param();
    let first = req.landing_hosts[0].trim();
    let sample_host = match first.strip_prefix("*.") {
        Some(domain) => format!("www.{domain}"),
        None => first.to_string(),
    };
    let sample = format!(
        "{q}&u={}&{param}=sample-click-id",
        utf8_percent_encode(&format!("https://{sample_host}/"), COMPONENT)
    );
    let check = ClickPolicy {
        keys: keys.clone(),
        signing_required: true,
        ..policy.clone()
    };
    parse(&sample, &check)?;
    Ok(format!("/c?{q}&u={{lpurl}}&{param}={{{param}}}"))
}

#[cfg(test)]
mod tests;
