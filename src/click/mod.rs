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

mod host;
mod location;
mod mint;
mod parse;
mod platform;
mod sign;

pub use host::HostPattern;
pub(crate) use host::{landing_host_pattern, PatternError};
pub use location::location;
pub(crate) use mint::sign_for;
pub use mint::{sign, sign_template, SignRequest, TemplateRequest};
pub use parse::parse;
pub use platform::Platform;
pub(crate) use platform::{platform_sql, PLATFORM_PARAMS};
pub use sign::Keys;
pub(crate) use sign::SigError;

use crate::config::{ClickConfig, Problems, SigningConfig};
use parse::RESERVED;
use std::borrow::Cow;
use url::Url;

/// Longest campaign, impression and publisher id (docs/contract.md §3).
pub(crate) const MAX_ID: usize = 128;

/// What the click path needs to know to accept a click. Built once from the
/// config ([`ClickPolicy::from_config`], which checks that its parts agree)
/// and shared read-only; [`ClickPolicy::new`] builds one in code.
#[derive(Debug, Clone)]
pub struct ClickPolicy {
    keys: Keys,
    signing_required: bool,
    allowed_hosts: Vec<HostPattern>,
    max_query_bytes: usize,
    /// The ad platforms' click-id parameters a template click may carry
    /// after `sig` (`click.platform_click_params`).
    platform_params: Vec<String>,
}

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
    /// A policy built in code (tests, benches, the fuzzer, `sign`), with
    /// the default platform parameters. Unlike
    /// [`ClickPolicy::from_config`] nothing is checked: a policy with
    /// signing off and no allowed host redirects nowhere.
    pub fn new(
        keys: Keys,
        signing_required: bool,
        allowed_hosts: Vec<HostPattern>,
        max_query_bytes: usize,
    ) -> ClickPolicy {
        ClickPolicy {
            keys,
            signing_required,
            allowed_hosts,
            max_query_bytes,
            ..ClickPolicy::default()
        }
    }

    /// The keys signatures are checked with.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Whether a click must be signed (`signing.required`).
    pub fn signing_required(&self) -> bool {
        self.signing_required
    }

    /// The landing hosts a click may go to; empty: any (signed clicks only).
    pub fn allowed_hosts(&self) -> &[HostPattern] {
        &self.allowed_hosts
    }

    /// The longest query accepted (`click.max_query_bytes`).
    pub fn max_query_bytes(&self) -> usize {
        self.max_query_bytes
    }

    /// The click-id parameters a template click may carry after `sig`.
    pub fn platform_params(&self) -> &[String] {
        &self.platform_params
    }

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
                    "{} is out of range; use 256 to 65536 (default {})",
                    click.max_query_bytes,
                    crate::config::ClickConfig::default().max_query_bytes
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
    /// `u`, parsed.
    pub landing: Url,
    /// `cmp`.
    pub campaign: Cow<'a, str>,
    /// `imp`; empty for a template click.
    pub impression: Cow<'a, str>,
    /// Empty when the URL has none.
    pub publisher: Cow<'a, str>,
    /// `test=1`.
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
    /// The landing URL's host, as the event records it.
    pub fn landing_host(&self) -> &str {
        self.landing.host_str().unwrap_or("")
    }
}

/// Why a click was refused: the status to answer, the short reason sent on
/// the wire (`Display`), and the label of its counter. The labels, their
/// indexes and the full list come from this one declaration: `Refusal` is
/// the variant without its data (`Refusal::VARIANTS`, `as usize`, and its
/// `snake_case` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(Refusal),
    derive(strum::IntoStaticStr, strum::VariantArray, strum::EnumCount),
    strum(serialize_all = "snake_case")
)]
#[allow(missing_docs)] // each variant's message says what it is
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
    /// The refusal's kind, without its detail.
    pub fn refusal(&self) -> Refusal {
        self.into()
    }

    /// The label of `clickedge_refused_total{reason=...}`.
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
pub(crate) fn is_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

#[cfg(test)]
mod tests;
