//! Parsing a click's raw query (docs/contract.md §3), in named steps:
//! [`RawParams::scan`] takes the parameters apart (borrowing, checking
//! their encoding and that none is given twice), the signature is checked
//! over the bytes before `&sig=`, the fields are decoded and checked, and
//! the landing host is held to the template's `lh` and to
//! `signing.allowed_landing_hosts`. The order of the steps is the order of
//! the refusals: a query with two faults is refused for the first.

use super::host::lh_pattern;
use super::{is_id, Click, ClickError, ClickPolicy, SigError, MAX_ID};
use percent_encoding::percent_decode_str;
use std::borrow::Cow;
use url::Url;

/// Parameter names a click URL uses itself.
pub(super) const RESERVED: [&str; 11] = [
    "u", "cmp", "imp", "pub", "test", "cd", "kid", "sig", "exp", "lh", "clickid",
];

/// The parameters of a query, as they appear in it (nothing decoded).
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
    /// Byte offset where the `sig=` segment starts, once seen.
    sig_at: Option<usize>,
    /// A template's platform-filled tail: the landing URL...
    tail_u: Option<&'a str>,
    /// ...and the first platform click id, by name.
    platform: Option<(&'a str, &'a str)>,
}

/// Parses and checks the raw query string (without `?`) of a click.
pub fn parse<'a>(query: &'a str, policy: &ClickPolicy) -> Result<Click<'a>, ClickError> {
    if query.len() > policy.max_query_bytes {
        return Err(ClickError::QueryTooLong);
    }
    let raw = RawParams::scan(query, &policy.platform_params)?;
    if policy.signing_required {
        raw.verify(query, policy)?;
    }
    let click = raw.click()?;
    if let Some(lh) = raw.lh {
        check_template_hosts(lh, click.landing_host())?;
    }
    check_allowed_hosts(policy, click.landing_host())?;
    Ok(click)
}

impl<'a> RawParams<'a> {
    /// Takes the query apart: each known parameter once, well-encoded;
    /// unknown ones (signed, ignored) well-encoded too; after `sig`, only
    /// what a template's platform fills in.
    fn scan(query: &'a str, platform_params: &[String]) -> Result<RawParams<'a>, ClickError> {
        let mut raw = RawParams::default();
        let mut offset = 0;
        for seg in query.split('&') {
            let start = offset;
            offset += seg.len() + 1;
            if seg.is_empty() {
                continue;
            }
            let (name, value) = seg.split_once('=').unwrap_or((seg, ""));
            if raw.sig_at.is_some() {
                raw.after_sig(name, value, platform_params)?;
                continue;
            }
            if name == "sig" {
                raw.sig_at = Some(start);
            }
            let Some((label, slot)) = raw.slot(name) else {
                // Unknown parameters are covered by the signature and ignored,
                // but must still be well-formed.
                if !valid_percent(name) || !valid_percent(value) {
                    return Err(ClickError::BadEncoding("query"));
                }
                continue;
            };
            if !valid_percent(value) {
                return Err(ClickError::BadEncoding(label));
            }
            if slot.replace(value).is_some() {
                return Err(ClickError::DuplicateParam(label));
            }
        }
        Ok(raw)
    }

    /// The place of a known parameter, with its label.
    fn slot(&mut self, name: &str) -> Option<(&'static str, &mut Option<&'a str>)> {
        Some(match name {
            "u" => ("u", &mut self.u),
            "exp" => ("exp", &mut self.exp),
            "lh" => ("lh", &mut self.lh),
            "cmp" => ("cmp", &mut self.cmp),
            "imp" => ("imp", &mut self.imp),
            "pub" => ("pub", &mut self.publisher),
            "test" => ("test", &mut self.test),
            "cd" => ("cd", &mut self.cd),
            "kid" => ("kid", &mut self.kid),
            "sig" => ("sig", &mut self.sig),
            _ => return None,
        })
    }

    /// One parameter after `sig`: a classic click has none; a template has
    /// what the ad platform fills in (`u`, a click id), and nothing else.
    fn after_sig(
        &mut self,
        name: &'a str,
        value: &'a str,
        platform_params: &[String],
    ) -> Result<(), ClickError> {
        if self.lh.is_none() {
            return Err(ClickError::SigNotLast);
        }
        if !valid_percent(value) {
            return Err(ClickError::BadEncoding("query"));
        }
        if name == "u" {
            if self.tail_u.replace(value).is_some() {
                return Err(ClickError::DuplicateParam("u"));
            }
        } else if platform_params.iter().any(|p| p == name) {
            match self.platform {
                None => self.platform = Some((name, value)),
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
        Ok(())
    }

    /// The signature over the bytes before `&sig=`, with the key `kid`
    /// names.
    fn verify(&self, query: &str, policy: &ClickPolicy) -> Result<(), ClickError> {
        let (Some(kid), Some(sig), Some(at)) = (self.kid, self.sig, self.sig_at) else {
            return Err(ClickError::MissingSignature);
        };
        let signed = &query[..at.saturating_sub(1)];
        policy
            .keys
            .verify(kid, signed.as_bytes(), sig)
            .map_err(|e| match e {
                SigError::UnknownKey => ClickError::UnknownKey,
                SigError::Malformed | SigError::Mismatch => ClickError::BadSignature,
            })
    }

    /// The click's fields, decoded and checked.
    fn click(&self) -> Result<Click<'a>, ClickError> {
        let template = self.lh.is_some();
        let landing = parse_landing(self.landing()?.ok_or(ClickError::MissingParam("u"))?)?;
        let campaign = id_param(self.cmp, "cmp")?;
        // A template has no impression of its own: the platform's click id
        // stands in for it (docs/contract.md §5).
        let impression = match self.imp {
            None if template => Cow::Borrowed(""),
            imp => id_param(imp, "imp")?,
        };
        let expires = self.expires()?;
        let platform = self.platform_id()?;
        let publisher = match self.publisher {
            None | Some("") => Cow::Borrowed(""),
            some => id_param(some, "pub")?,
        };
        Ok(Click {
            landing,
            campaign,
            impression,
            publisher,
            test: flag(self.test)?,
            child_directed: flag(self.cd)?,
            expires,
            template,
            platform,
        })
    }

    /// The raw landing URL: a classic click's signed `u`, a template's
    /// `u` after `sig` (a signed one is refused).
    fn landing(&self) -> Result<Option<&'a str>, ClickError> {
        if self.lh.is_none() {
            return Ok(self.u);
        }
        if self.u.is_some() {
            return Err(ClickError::SignedTemplateLanding);
        }
        Ok(self.tail_u)
    }

    /// `exp`: unix seconds, digits only.
    fn expires(&self) -> Result<Option<u64>, ClickError> {
        let Some(e) = self.exp else {
            return Ok(None);
        };
        e.parse::<u64>()
            .ok()
            .filter(|_| !e.starts_with('+'))
            .map(Some)
            .ok_or(ClickError::BadExpiry)
    }

    /// The platform click id, decoded and checked.
    fn platform_id(&self) -> Result<Option<(&'a str, Cow<'a, str>)>, ClickError> {
        let Some((name, value)) = self.platform else {
            return Ok(None);
        };
        let id = decode(value, PLATFORM_LABEL)?;
        if !is_id(&id, 512) {
            return Err(ClickError::BadPlatformId(PLATFORM_LABEL));
        }
        Ok(Some((name, id)))
    }
}

/// `test` and `cd`: absent, `0` or `1`.
fn flag(v: Option<&str>) -> Result<bool, ClickError> {
    match v {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(_) => Err(ClickError::BadTestFlag),
    }
}

/// The landing host the platform filled in must be one the signed `lh`
/// allows.
fn check_template_hosts(lh: &str, host: &str) -> Result<(), ClickError> {
    let lh = decode(lh, "lh")?;
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
    Ok(())
}

/// `signing.allowed_landing_hosts`, when it lists any; unsigned, it must.
fn check_allowed_hosts(policy: &ClickPolicy, host: &str) -> Result<(), ClickError> {
    if !policy.allowed_hosts.is_empty() {
        if !policy.allowed_hosts.iter().any(|p| p.matches(host)) {
            return Err(ClickError::HostNotAllowed);
        }
    } else if !policy.signing_required {
        // Unsigned and no host listed: nothing vouches for the landing URL
        // (a policy built by hand; `check` refuses such a config).
        return Err(ClickError::HostNotAllowed);
    }
    Ok(())
}

/// The label a bad platform click id is refused with.
const PLATFORM_LABEL: &str = "the platform click id";

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
