//! Conversions (docs/contract.md §9): what a click was worth, reported by
//! the advertiser server to server, keyed by the click id its landing page
//! received.
//!
//! ```text
//! POST/GET /v1/conversions ─► intake::parse (key, closed fields, policy) ─► Conversion
//!        ─► spool (<data-dir>/conversions/, synced before the 202) ─► shipper ─► sinks
//! ```
//!
//! Owns: the record ([`record`]), the reading and checking of a request
//! ([`intake`]), the rules the conversion-tracking policy sets on actions
//! ([`terms`]), and [`ConversionPolicy`], this module's part of the
//! policy, swapped whole on reload.
//!
//! Invariants: only the closed field set is taken, so no personal field
//! can arrive; a secret is compared in constant time and never kept
//! anywhere but here; `txn` leaves this module only as its keyed hash.
//!
//! Does not: write (the spool does, [`crate::spool`]), answer (the edge
//! glue does), or attribute (the reports do, over stored clicks).

pub(crate) mod intake;
pub(crate) mod record;
pub(crate) mod terms;

use crate::config::{Category, ConversionsConfig, Problems};
use std::collections::BTreeMap;

/// The keys of the conversion records already in a spool directory (the
/// unshipped ones), so that a repeat after a restart is answered as one.
pub(crate) fn stored_keys(dir: &std::path::Path) -> Vec<u128> {
    let mut keys = Vec::new();
    let _ = crate::spool::reader::each_record(dir, |json| match record::Conversion::parse(json) {
        Ok(c) => {
            keys.push(c.key_id());
            true
        }
        Err(_) => false,
    });
    keys
}

/// The conversions' spool: `<data_dir>/conversions/`, synced before every
/// answer, within the clicks' quota (conversions are few and small).
pub(crate) fn spool_config(
    clicks: &crate::spool::SpoolConfig,
    data_dir: &std::path::Path,
) -> crate::spool::SpoolConfig {
    crate::spool::SpoolConfig {
        dir: data_dir.join("conversions"),
        queue_capacity: 4096,
        batch_max: 4096,
        flush_interval: std::time::Duration::from_secs(1),
        fsync_interval: std::time::Duration::from_secs(1),
        segment_max_bytes: 16 << 20,
        max_spool_bytes: clicks.max_spool_bytes.clamp(32 << 20, 1 << 30),
    }
}

/// An action's or a key's name: 1 to 64 letters, digits, `_`, `-` or `.`
/// (a key's is recorded as `source`, an action's is a label's default).
fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// The least length of a secret in `conversions.keys` and of
/// `conversions.txn_hash_key`.
pub(crate) const MIN_SECRET: usize = 16;

/// `conversions` as the edge runs it; `None` in the policy when no key is
/// configured (the path then answers 404).
#[derive(Debug)]
pub(crate) struct ConversionPolicy {
    /// (name, secret) of each key.
    keys: Vec<(String, Vec<u8>)>,
    txn_hash_key: Vec<u8>,
    pub(crate) window: std::time::Duration,
    /// Name → category of each action.
    actions: BTreeMap<String, Category>,
    pub(crate) max_body_bytes: usize,
}

impl ConversionPolicy {
    /// Checks the section (and the actions against the policy's terms);
    /// `Ok(None)` when intake is off.
    pub(crate) fn from_config(c: &ConversionsConfig) -> Result<Option<ConversionPolicy>, Problems> {
        let mut p = Problems::default();
        let terms = p.take(terms::Terms::load(&c.sensitive_term_files));
        if let Some(terms) = &terms {
            for (name, action) in &c.actions {
                for (what, text) in [("name", name.as_str()), ("label", action.label.as_str())] {
                    if let Some(hit) = terms.find(text) {
                        p.push(
                            format!("conversions.actions.{name}"),
                            format!(
                                "the action's {what} {text:?} names {} ({:?}, from {}): the conversion-tracking policy allows no conversion built on it; rename the action or drop it",
                                hit.category, hit.term, hit.source
                            ),
                        );
                    }
                }
            }
        }
        for name in c.actions.keys() {
            if !is_name(name) {
                p.push(
                    "conversions.actions",
                    format!(
                        "{name:?}: an action's name is 1 to 64 letters, digits, '_', '-' or '.'"
                    ),
                );
            }
        }
        if !(1..=90).contains(&c.window_days) {
            p.push("conversions.window_days", "must be 1 to 90 (the ad platforms import conversions up to 90 days after the click)");
        }
        if c.max_body_bytes < 1024 {
            p.push("conversions.max_body_bytes", "use at least 1024");
        }
        if c.keys.is_empty() {
            return p.or(None);
        }
        for (name, secret) in &c.keys {
            if !is_name(name) {
                p.push(
                    "conversions.keys",
                    "a key's name is 1 to 64 letters, digits, '_', '-' or '.' (it is recorded as the conversion's source)",
                );
            } else if secret.len() < MIN_SECRET {
                p.push(
                    format!("conversions.keys.{name}"),
                    format!("the secret is shorter than {MIN_SECRET} characters"),
                );
            }
        }
        if c.txn_hash_key.len() < MIN_SECRET {
            p.push(
                "conversions.txn_hash_key",
                format!("set a secret of at least {MIN_SECRET} characters, the same on every edge: txn is stored only as a hash under it"),
            );
        }
        if c.actions.is_empty() {
            p.push(
                "conversions.actions",
                "name at least one action (for example purchase: {category: purchase}): a conversion's event must be one",
            );
        }
        p.or(Some(ConversionPolicy {
            keys: c
                .keys
                .iter()
                .map(|(n, s)| (n.clone(), s.as_bytes().to_vec()))
                .collect(),
            txn_hash_key: c.txn_hash_key.as_bytes().to_vec(),
            window: std::time::Duration::from_secs(u64::from(c.window_days) * 86_400),
            actions: c
                .actions
                .iter()
                .map(|(n, a)| (n.clone(), a.category))
                .collect(),
            max_body_bytes: c.max_body_bytes,
        }))
    }

    /// The name of the key whose secret this is. Every key is compared,
    /// each in constant time, so the answer's timing tells nothing.
    pub(crate) fn source(&self, secret: &[u8]) -> Option<&str> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for (name, s) in &self.keys {
            if bool::from(s.as_slice().ct_eq(secret)) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }

    pub(crate) fn category(&self, event: &str) -> Option<Category> {
        self.actions.get(event).copied()
    }

    pub(crate) fn txn_hash(&self, txn: &str) -> String {
        record::txn_hash(&self.txn_hash_key, txn)
    }
}
