//! `geo` and `rules`: the databases and the signed bundle the policy
//! reads beside `ivt`'s own lists.

use serde::Deserialize;
use smart_default::SmartDefault;
use std::path::PathBuf;

/// Where clicks come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// A MaxMind-format country database (GeoLite2-Country.mmdb, say); none:
    /// `country` is empty.
    pub country_db: Option<PathBuf>,
    /// A GeoLite2-ASN-format database (`autonomous_system_number`): with
    /// it, a click from a data-center AS (`ivt.datacenter_asns...`) is
    /// `datacenter_ip`.
    pub asn_db: Option<PathBuf>,
}

/// `rules`: where a fleet's edges fetch their shared lists.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The bundle's URL (`http://` or `https://`); none: no bundle.
    pub url: Option<String>,
    /// The Ed25519 public key bundles must be signed with, as `clickedge
    /// rules keygen` prints it (base64).
    pub public_key: Option<String>,
    /// Seconds between polls; each wait is this plus or minus 10%.
    #[default = 60]
    pub poll_seconds: u64,
}
