//! Reading a conversion request: the key, the closed field set, the
//! values, and the policy's rules, into [`Conversion`] records or one
//! [`Refusal`] for the whole request (docs/contract.md §9).
//!
//! A request is read whole before anything is written: an array with one
//! bad record is refused whole, so a sender fixes it and retries it as it
//! was, and no half of it is counted twice.

use super::record::{self, Amount, Consent, Conversion};
use super::ConversionPolicy;
use crate::closed_set::closed_set;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The most records one request may carry.
pub(crate) const MAX_RECORDS: usize = 1000;

/// How far in the future a conversion's `time` may be (clock skew).
const FUTURE_SKEW: Duration = Duration::from_secs(300);

closed_set! {
    /// Why a conversion request is refused: its status and the reason on
    /// the wire, and the label of `clickedge_conversions_refused_total`.
    pub enum Refusal {
        /// No key, or a key that is not in `conversions.keys` (401).
        Unauthorized,
        /// Neither `GET` nor `POST` (405).
        MethodNotAllowed,
        /// Neither JSON nor a form (415).
        UnsupportedMediaType,
        /// Longer than `conversions.max_body_bytes` (413).
        BodyTooLarge,
        /// Not in full within `limits.body_timeout_seconds` (408).
        BodyTimeout,
        /// Not JSON, not a form, or not one object / an array of objects.
        BadBody,
        /// An array of more than 1,000, or of none.
        BadBatch,
        /// A field outside the closed set.
        UnknownField,
        /// A field given twice.
        DuplicateField,
        /// `click_id` or `event` missing.
        MissingField,
        /// `click_id` is neither a click id this edge issues (a UUIDv7) nor
        /// an ad platform's (`gclid`, `msclkid`).
        BadClickId,
        /// `event` is not an action in `conversions.actions`.
        UnknownEvent,
        /// `event` or `txn` shaped like an e-mail address or a phone number.
        PersonalData,
        /// `time` not RFC 3339, or more than 5 minutes in the future.
        BadTime,
        /// `value` not a decimal ≥ 0 with at most 6 decimals.
        BadValue,
        /// `currency` not a three-letter code, or missing with a value.
        BadCurrency,
        /// `txn` not 1 to 128 printable bytes.
        BadTxn,
        /// `consent` not `granted`, `denied` or `unspecified`.
        BadConsent,
        /// Before its click, or more than `conversions.window_days` after.
        OutsideWindow,
        /// The spool could not take it (disk full, quota): retry later.
        Unavailable,
    }
}

impl Refusal {
    pub(crate) fn status(self) -> u16 {
        match self {
            Refusal::Unauthorized => 401,
            Refusal::MethodNotAllowed => 405,
            Refusal::UnsupportedMediaType => 415,
            Refusal::BodyTooLarge => 413,
            Refusal::BodyTimeout => 408,
            Refusal::OutsideWindow => 422,
            Refusal::Unavailable => 503,
            _ => 400,
        }
    }

    /// What to fix, for the answer's `message`.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Unauthorized => {
                "send a key of conversions.keys as Authorization: Bearer or the key field"
            }
            Refusal::MethodNotAllowed => "use POST (a JSON body or a form) or GET (a postback URL)",
            Refusal::UnsupportedMediaType => {
                "send application/json or application/x-www-form-urlencoded"
            }
            Refusal::BodyTooLarge => "the body is over conversions.max_body_bytes",
            Refusal::BodyTimeout => "the body did not arrive within limits.body_timeout_seconds",
            Refusal::BadBody => {
                "send one JSON object, a JSON array of objects, or one form-encoded record"
            }
            Refusal::BadBatch => "send 1 to 1000 records",
            Refusal::UnknownField => {
                "fields are click_id, event, time, value, currency, txn, consent and key"
            }
            Refusal::DuplicateField => "a field is given twice",
            Refusal::MissingField => "click_id and event are required",
            Refusal::BadClickId => {
                "click_id is the clickid (or the gclid or msclkid) the landing page received"
            }
            Refusal::UnknownEvent => "event is not an action of conversions.actions",
            Refusal::PersonalData => {
                "event and txn may not hold an e-mail address or a phone number"
            }
            Refusal::BadTime => "time is RFC 3339, at most 5 minutes in the future",
            Refusal::BadValue => "value is a decimal >= 0 with at most 6 decimals",
            Refusal::BadCurrency => "currency is an ISO 4217 code, required with a value",
            Refusal::BadTxn => "txn is 1 to 128 printable ASCII characters",
            Refusal::BadConsent => "consent is granted, denied or unspecified",
            Refusal::OutsideWindow => {
                "the conversion is before its click or after conversions.window_days"
            }
            Refusal::Unavailable => "the edge cannot store conversions now; retry later",
        }
    }

    /// The answer's body: `{"error":"…","message":"…"}`, with the index of
    /// the record in an array that was refused.
    pub(crate) fn body(self, index: Option<usize>) -> String {
        let mut s = format!(
            "{{\"error\":\"{}\",\"message\":\"{}\"",
            self.as_str(),
            self.message()
        );
        if let Some(i) = index {
            s.push_str(&format!(",\"index\":{i}"));
        }
        s.push_str("}\n");
        s
    }
}

/// A refusal and, in an array, which record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) why: Refusal,
    pub(crate) index: Option<usize>,
}

impl From<Refusal> for Refused {
    fn from(why: Refusal) -> Refused {
        Refused { why, index: None }
    }
}

/// How the request carried its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body<'a> {
    /// `POST` with `Content-Type: application/json`.
    Json(&'a [u8]),
    /// `POST` with a form body, or the query of a `GET`.
    Form(&'a [u8]),
}

/// What the edge knows of the request besides its records.
pub(crate) struct Context<'a> {
    /// The secret of `Authorization: Bearer`, if sent.
    pub(crate) bearer: Option<&'a [u8]>,
    pub(crate) now: SystemTime,
    pub(crate) edge: &'a str,
}

/// One record's fields as sent: name → text.
type Fields = BTreeMap<String, String>;

/// Reads and checks a whole request.
pub(crate) fn parse(
    policy: &ConversionPolicy,
    body: Body<'_>,
    cx: &Context<'_>,
) -> Result<Vec<Conversion>, Refused> {
    // The key first: nothing about the records is told to a stranger. A
    // wrong header is refused before the body is read; without one, the
    // key is a field, and a body that cannot be read shows none.
    if cx.bearer.is_some_and(|b| policy.source(b).is_none()) {
        return Err(Refusal::Unauthorized.into());
    }
    let unread = |e: Refused| {
        if cx.bearer.is_some() {
            e
        } else {
            Refusal::Unauthorized.into()
        }
    };
    let records = match body {
        Body::Form(b) => vec![form(b)],
        Body::Json(b) => json(b).map_err(unread)?,
    };
    if records.is_empty() {
        // A valid header was checked above; without one, no key was shown.
        let why = if cx.bearer.is_some() {
            Refusal::BadBatch
        } else {
            Refusal::Unauthorized
        };
        return Err(why.into());
    }
    let mut source = None;
    for r in &records {
        let s = authenticate(policy, cx.bearer, r.fields.get("key").map(String::as_bytes))
            .ok_or(Refusal::Unauthorized)?;
        if source.is_some_and(|prev| prev != s) {
            return Err(Refusal::Unauthorized.into());
        }
        source = Some(s);
    }
    let source = source.ok_or(Refusal::Unauthorized)?;
    if records.is_empty() || records.len() > MAX_RECORDS {
        return Err(Refusal::BadBatch.into());
    }
    let is_array = matches!(body, Body::Json(b) if b.trim_ascii_start().starts_with(b"["));
    for (i, r) in records.iter().enumerate() {
        if let Some(why) = r.refused {
            return Err(Refused {
                why,
                index: is_array.then_some(i),
            });
        }
    }
    let records: Vec<Fields> = records.into_iter().map(|r| r.fields).collect();
    let ts = crate::time::rfc3339_millis(cx.now).to_string();
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            record(policy, r, cx, source, &ts).map_err(|why| Refused {
                why,
                index: matches!(body, Body::Json(b) if b.trim_ascii_start().starts_with(b"["))
                    .then_some(i),
            })
        })
        .collect()
}

/// The name of the key the request carries (by header or field; both must
/// agree when both are sent).
fn authenticate<'p>(
    policy: &'p ConversionPolicy,
    bearer: Option<&[u8]>,
    field: Option<&[u8]>,
) -> Option<&'p str> {
    match (bearer, field) {
        (Some(b), Some(f)) => {
            let a = policy.source(b)?;
            (policy.source(f)? == a).then_some(a)
        }
        (Some(s), None) | (None, Some(s)) => policy.source(s),
        (None, None) => None,
    }
}

const FIELDS: [&str; 8] = [
    "click_id", "event", "time", "value", "currency", "txn", "consent", "key",
];

/// One record as sent, and what is wrong with its fields (told only once
/// the key is known).
struct Sent {
    fields: Fields,
    refused: Option<Refusal>,
}

fn form(b: &[u8]) -> Sent {
    let mut f = Fields::new();
    let mut refused = None;
    for (k, v) in url::form_urlencoded::parse(b) {
        if !FIELDS.contains(&k.as_ref()) {
            refused.get_or_insert(Refusal::UnknownField);
            continue;
        }
        if f.insert(k.into_owned(), v.into_owned()).is_some() {
            refused.get_or_insert(Refusal::DuplicateField);
        }
    }
    Sent { fields: f, refused }
}

fn json(b: &[u8]) -> Result<Vec<Sent>, Refused> {
    let objects: Vec<BTreeMap<String, &RawValue>> = if b.trim_ascii_start().starts_with(b"[") {
        serde_json::from_slice(b).map_err(|_| Refusal::BadBody)?
    } else {
        vec![serde_json::from_slice(b).map_err(|_| Refusal::BadBody)?]
    };
    if objects.len() > MAX_RECORDS {
        return Err(Refusal::BadBatch.into());
    }
    objects
        .into_iter()
        .map(|o| {
            let mut f = Fields::new();
            let mut refused = None;
            for (k, raw) in o {
                if !FIELDS.contains(&k.as_str()) {
                    refused.get_or_insert(Refusal::UnknownField);
                    continue;
                }
                let text = raw.get();
                let v = if text.starts_with('"') {
                    match serde_json::from_str::<String>(text) {
                        Ok(v) => v,
                        Err(_) => {
                            refused.get_or_insert(Refusal::BadBody);
                            continue;
                        }
                    }
                } else if k == "value"
                    && text
                        .bytes()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit() || c == b'-')
                {
                    // A JSON number's text, as sent: never through a float.
                    text.to_string()
                } else if text == "null" {
                    continue;
                } else {
                    refused.get_or_insert(Refusal::BadBody);
                    continue;
                };
                f.insert(k, v);
            }
            Ok(Sent { fields: f, refused })
        })
        .collect()
}

fn record(
    policy: &ConversionPolicy,
    mut f: Fields,
    cx: &Context<'_>,
    source: &str,
    ts: &str,
) -> Result<Conversion, Refusal> {
    let click_id = f.remove("click_id").ok_or(Refusal::MissingField)?;
    let event = f.remove("event").ok_or(Refusal::MissingField)?;
    // The edge's own click id, or (for a template click under parallel
    // tracking, whose landing page only ever sees the platform's) the
    // platform's click id: its click's time is then known only when
    // reading, where the window is applied.
    let click_time = match click_time(&click_id) {
        Some(t) => Some(t),
        None if platform_click_id(&click_id) => None,
        None => return Err(Refusal::BadClickId),
    };
    if personal(&event) {
        return Err(Refusal::PersonalData);
    }
    let category = policy.category(&event).ok_or(Refusal::UnknownEvent)?;
    let txn = f.remove("txn").unwrap_or_default();
    if !txn.is_empty() {
        if txn.len() > 128 || !txn.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Refusal::BadTxn);
        }
        if personal(&txn) {
            return Err(Refusal::PersonalData);
        }
    }
    let time = match f.remove("time").filter(|t| !t.is_empty()) {
        None => cx.now,
        Some(t) => {
            let t = crate::time::parse_rfc3339(&t).ok_or(Refusal::BadTime)?;
            if t > cx.now + FUTURE_SKEW {
                return Err(Refusal::BadTime);
            }
            t
        }
    };
    if let Some(click_time) = click_time {
        if time < click_time || time > click_time + policy.window {
            return Err(Refusal::OutsideWindow);
        }
    } else if time + policy.window < cx.now {
        // No click time to measure from: a conversion older than the
        // window is outside it whatever its click.
        return Err(Refusal::OutsideWindow);
    }
    let value = f.remove("value").unwrap_or_default();
    let currency = f.remove("currency").unwrap_or_default();
    let value = if value.is_empty() {
        if !currency.is_empty() {
            return Err(Refusal::BadCurrency);
        }
        String::new()
    } else {
        Amount::parse(&value)
            .map_err(|_| Refusal::BadValue)?
            .to_string()
    };
    if !value.is_empty()
        && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(Refusal::BadCurrency);
    }
    let consent =
        Consent::parse(&f.remove("consent").unwrap_or_default()).ok_or(Refusal::BadConsent)?;
    let txn_hash = if txn.is_empty() {
        String::new()
    } else {
        policy.txn_hash(&txn)
    };
    let key = record::key_id(&click_id, &event, &txn_hash);
    Ok(Conversion {
        ts: ts.to_string(),
        conversion_id: record::conversion_id(key),
        click_ts: click_time.map_or(String::new(), |t| {
            crate::time::rfc3339_millis(t).to_string()
        }),
        click_id,
        category: category.as_str().to_string(),
        event,
        time: crate::time::rfc3339_millis(time).to_string(),
        value,
        currency: currency.to_ascii_uppercase(),
        txn_hash,
        consent: consent.as_str().to_string(),
        source: source.to_string(),
        edge: cx.edge.to_string(),
    })
}

/// The time a click id was issued: its UUIDv7 timestamp.
pub(crate) fn click_time(click_id: &str) -> Option<SystemTime> {
    // The edge writes its ids hyphenated; 32 bare hex digits are an
    // msclkid's shape, whatever its version nibble says.
    if click_id.len() != 36 {
        return None;
    }
    let id = uuid::Uuid::try_parse(click_id).ok()?;
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Shaped like an ad platform's click id (`gclid`, `msclkid`: 32 hex
/// digits...): 16 to 256 letters, digits, `-` and `_`, and not a
/// hyphenated UUID (one that is not a v7 is no click id of any kind).
pub(crate) fn platform_click_id(s: &str) -> bool {
    (16..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !(s.len() == 36 && uuid::Uuid::try_parse(s).is_ok())
}

/// Shaped like an e-mail address (`a@b.c`) or a phone number (7 to 15
/// digits written with a `+`, or with the spaces, dashes, dots or
/// parentheses phone numbers are written with). A bare run of digits is
/// not refused: order numbers are written so.
pub(crate) fn personal(s: &str) -> bool {
    let s = s.trim();
    if let Some((local, domain)) = s.rsplit_once('@') {
        if !local.is_empty() && domain.contains('.') && !domain.ends_with('.') {
            return true;
        }
    }
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let phone_chars = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b" +-.()/".contains(&b));
    let written_as_phone = s.starts_with('+') || s.bytes().any(|b| b" -.()/".contains(&b));
    phone_chars && written_as_phone && (7..=15).contains(&digits)
}

#[cfg(test)]
mod tests;
