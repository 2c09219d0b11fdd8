//! `privacy`: what may be written about a person ([`crate::privacy`],
//! `clickedge retention`).

use serde::Deserialize;
use smart_default::SmartDefault;

/// What is written of the client address (see `privacy.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// IPv4 to its /24, IPv6 to its /48.
    Truncate,
    /// A keyed hash, the key rotated every period: the same address gives
    /// the same value within a period, and no one without the key can find
    /// an address by hashing every candidate.
    Hash,
    /// The event has the truncated address; the full one goes to the
    /// separate `ip_full` field that reports and exports never read, with
    /// its own, shorter retention. For fraud analysis only.
    Full,
    /// No address at all.
    None,
}

/// What may be written about a person (see `privacy.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// truncate (default), hash, full, none.
    #[default(IpMode::Truncate)]
    pub ip_mode: IpMode,
    /// Key material of `hash` mode; empty: a random key per process (hashes
    /// then differ between edges and restarts).
    pub ip_hash_secret: String,
    /// The hash key changes every this many hours.
    #[default = 24]
    pub ip_hash_rotation_hours: u64,
    /// Request headers that opt the user out when their value is `1`.
    #[default(vec!["sec-gpc".to_string(), "dnt".to_string()])]
    pub opt_out_headers: Vec<String>,
    pub retention: RetentionConfig,
}

/// Ages after which `clickedge retention` removes personal detail.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `ip` is replaced by `[scrubbed]` after this many days (about 9 months).
    #[default = 270]
    pub ip_days: u32,
    /// `user_agent` is cut to the device class after this many days (about
    /// 18 months).
    #[default = 540]
    pub user_agent_days: u32,
    /// `ip_full` (fraud analysis only) is emptied after this many days.
    #[default = 30]
    pub ip_full_days: u32,
    /// A conversion's `txn_hash` (the keyed hash of the order id) is
    /// emptied this many days after it was received: repeats are removed
    /// by `conversion_id`, so nothing needs it after the conversion window
    /// (`conversions.window_days`); the rest is time to reconcile orders.
    #[default = 90]
    pub txn_hash_days: u32,
}
