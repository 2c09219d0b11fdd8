//! Minting click URLs and tracking templates (`clickedge sign`): each is
//! checked by [`super::parse`] the way the edge will check it, so what is
//! printed is what the edge accepts.

use super::host::lh_pattern;
use super::{parse, ClickError, ClickPolicy, HostPattern, Keys, Platform};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes of a query component that `sign` leaves as they are: RFC 3986's
/// unreserved characters. Everything else is percent-encoded.
pub(super) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What `clickedge sign` mints.
#[derive(Debug, Clone, Default)]
pub struct SignRequest<'a> {
    /// `u`: the landing page, an absolute http or https URL.
    pub landing: &'a str,
    /// `cmp`: the campaign id (1 to 128 of A-Z a-z 0-9 . _ ~ -).
    pub campaign: &'a str,
    /// `imp`: the impression id (same alphabet).
    pub impression: &'a str,
    /// `pub`: the publisher id, if any (same alphabet).
    pub publisher: Option<&'a str>,
    /// `test=1`: a test click, never billable.
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
pub(crate) fn sign_for(
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
    let policy = ClickPolicy::new(keys.clone(), true, allowed_hosts.to_vec(), max_query_bytes);
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

/// What `clickedge sign --template` mints.
#[derive(Debug, Clone)]
pub struct TemplateRequest<'a> {
    /// The ad platform that fills the template in.
    pub platform: Platform,
    /// `cmp`: the campaign id.
    pub campaign: &'a str,
    /// `pub`: the publisher id, if any.
    pub publisher: Option<&'a str>,
    /// Landing host patterns (`shop.example`, `*.shop.example`): `lh`.
    pub landing_hosts: &'a [String],
    /// `exp`: the clicks expire at this time (unix seconds).
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
