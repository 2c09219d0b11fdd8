//! A conversion record (docs/contract.md §9): what the edge writes under
//! `<data-dir>/conversions/`, ships, and what reports and exports read.
//!
//! ```text
//! {"ts":"…","conversion_id":"…","click_id":"…","click_ts":"…","event":"purchase",
//!  "category":"purchase","time":"…","value":"12.5","currency":"EUR",
//!  "txn_hash":"…","consent":"granted","source":"shop","edge":"e1","crc":"…"}
//! ```
//!
//! Every value is a string: `value` a decimal (never a binary float),
//! empty when none was sent, like `currency` and `txn_hash`. A record is
//! a spool record ([`crate::spool::record`]) like a click's.
//!
//! `conversion_id` is derived from the key a repeat shares, (click id,
//! event, txn hash): a retry to another edge, or after a restart, has the
//! same id, so readers and the ClickHouse table remove it by that id.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One conversion, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Conversion {
    /// When the edge received it (RFC 3339, milliseconds, UTC).
    pub ts: String,
    pub conversion_id: String,
    pub click_id: String,
    /// The click's time, read from its id (UUIDv7).
    pub click_ts: String,
    pub event: String,
    pub category: String,
    /// When it converted.
    pub time: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub txn_hash: String,
    pub consent: String,
    /// The name of the key that sent it, never the secret.
    pub source: String,
    pub edge: String,
}

impl Conversion {
    /// The record as one spool line, newline included.
    pub(crate) fn to_line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        crate::spool::record::seal(&mut out);
        out
    }

    /// Reads a stored line (with or without its `crc` field: as shipped
    /// or as spooled); unknown fields are skipped.
    pub(crate) fn parse(json: &[u8]) -> Result<Conversion, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The key repeats share: its `conversion_id` as a number. Read from
    /// the id, never recomputed from the fields: retention empties
    /// `txn_hash`, and the record must keep the key it was stored under.
    pub(crate) fn key_id(&self) -> u128 {
        uuid::Uuid::try_parse(&self.conversion_id)
            .map(|u| u.as_u128())
            .unwrap_or_else(|_| key_id(&self.click_id, &self.event, &self.txn_hash))
    }
}

/// What the person said about their data being used for advertising.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Consent {
    Granted,
    Denied,
    #[default]
    Unspecified,
}

impl Consent {
    pub(crate) fn parse(s: &str) -> Option<Consent> {
        match s {
            "granted" => Some(Consent::Granted),
            "denied" => Some(Consent::Denied),
            "unspecified" | "" => Some(Consent::Unspecified),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Consent::Granted => "granted",
            Consent::Denied => "denied",
            Consent::Unspecified => "unspecified",
        }
    }
}

/// The id shared by every repeat of (click id, event, txn hash): the
/// first 128 bits of SHA-256 over the three, NUL-separated.
pub(crate) fn key_id(click_id: &str, event: &str, txn_hash: &str) -> u128 {
    let mut h = Sha256::new();
    for part in [click_id, event, txn_hash] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

/// A key id as the `conversion_id` written and answered: UUID form
/// (version 8, "custom").
pub(crate) fn conversion_id(key: u128) -> String {
    uuid::Builder::from_custom_bytes(key.to_be_bytes())
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// `txn` as stored: HMAC-SHA256 under `conversions.txn_hash_key`, the
/// first 128 bits in hex. The same key on every edge gives a retry the
/// same hash; no one without it can test a guessed order number.
pub(crate) fn txn_hash(key: &[u8], txn: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(txn.as_bytes());
    let d = mac.finalize().into_bytes();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// An amount of money, exactly: millionths of the unit. A value sent
/// with more than six decimals is refused rather than rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Amount(pub i128);

/// Why a `value` is not an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AmountError {
    #[error("not a decimal number such as 12.50")]
    NotDecimal,
    #[error("more than 6 decimals")]
    TooPrecise,
    #[error("more than 18 digits before the point")]
    TooLarge,
}

impl Amount {
    pub(crate) const SCALE: u32 = 6;

    /// `12`, `12.5`, `0.000001`; no sign, exponent or separators.
    pub(crate) fn parse(s: &str) -> Result<Amount, AmountError> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(AmountError::NotDecimal);
        }
        if frac.len() > Self::SCALE as usize {
            return Err(AmountError::TooPrecise);
        }
        let int = int.trim_start_matches('0');
        if int.len() > 18 {
            return Err(AmountError::TooLarge);
        }
        let whole: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| AmountError::NotDecimal)?
        };
        let mut f: i128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| AmountError::NotDecimal)?
        };
        for _ in frac.len()..Self::SCALE as usize {
            f *= 10;
        }
        Ok(Amount(whole * 10i128.pow(Self::SCALE) + f))
    }

    pub(crate) fn add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }
}

/// The shortest decimal: `12.5`, `3`, `0.000001`.
impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = 10i128.pow(Self::SCALE);
        let (whole, frac) = (self.0 / unit, self.0 % unit);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:06}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals() {
        let a = Amount::parse("0.1")
            .unwrap()
            .add(Amount::parse("0.2").unwrap());
        assert_eq!(a.to_string(), "0.3");
        assert_eq!(Amount::parse("12.50").unwrap().to_string(), "12.5");
        assert_eq!(Amount::parse("007").unwrap().to_string(), "7");
        assert_eq!(Amount::parse("0.000001").unwrap().0, 1);
        assert_eq!(Amount::parse("1.0000001"), Err(AmountError::TooPrecise));
        for bad in ["", "-1", "1e3", "1,5", ".5", "5.", "NaN", " 1"] {
            assert_eq!(Amount::parse(bad), Err(AmountError::NotDecimal), "{bad:?}");
        }
        assert_eq!(Amount::parse(&"9".repeat(19)), Err(AmountError::TooLarge));
    }

    #[test]
    fn a_record_reads_back_from_its_line_and_repeats_share_an_id() {
        let c = Conversion {
            ts: "2026-12-07T10:00:00.000Z".into(),
            conversion_id: conversion_id(key_id("c1", "purchase", "h")),
            click_id: "c1".into(),
            click_ts: "2026-12-07T09:00:00.000Z".into(),
            event: "purchase".into(),
            category: "purchase".into(),
            time: "2026-12-07T10:00:00.000Z".into(),
            value: "12.5".into(),
            currency: "EUR".into(),
            txn_hash: "h".into(),
            consent: "granted".into(),
            source: "shop".into(),
            edge: "e1".into(),
        };
        let line = c.to_line();
        let body = crate::spool::record::open(line.strip_suffix(b"\n").unwrap()).unwrap();
        let mut json = body.to_vec();
        json.push(b'}');
        assert_eq!(Conversion::parse(&json).unwrap(), c);
        // The key is the id's, whatever retention later does to txn_hash.
        let mut scrubbed = c.clone();
        scrubbed.txn_hash.clear();
        assert_eq!(scrubbed.key_id(), c.key_id());
        assert_ne!(c.key_id(), {
            let mut other = c.clone();
            other.conversion_id = conversion_id(key_id("c1", "purchase", ""));
            other.key_id()
        });
        assert_ne!(key_id("c1", "purchase", ""), key_id("c1", "purchase", "h"));
        assert_ne!(txn_hash(b"k1", "order-1"), txn_hash(b"k2", "order-1"));
        assert_eq!(txn_hash(b"k1", "order-1").len(), 32);
    }
}
