//! `backend`: read by `clickedge rescore` and `clickedge strikes`, never
//! by `serve`.

use serde::Deserialize;
use smart_default::SmartDefault;

/// `backend`: the activity rules `clickedge rescore` runs over stored
/// clicks, and the strike ladder's thresholds (docs/methodology.md).
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    pub click_flood: ClickFloodRule,
    pub address_spread: AddressSpreadRule,
    pub publisher_spike: PublisherSpikeRule,
    pub impression_cycling: ImpressionCyclingRule,
    pub strikes: StrikesConfig,
}

/// `click_flood`: more than `max_clicks` counted clicks from one stored
/// address on one campaign within `window_seconds`; the clicks past the
/// limit are invalid.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ClickFloodRule {
    #[default = true]
    pub enabled: bool,
    #[default = 30]
    pub max_clicks: u32,
    #[default = 60]
    pub window_seconds: u64,
}

/// `address_spread`: one stored address clicking more than
/// `max_campaigns` campaigns, or more than `max_publishers` publishers,
/// within `window_seconds`.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct AddressSpreadRule {
    #[default = true]
    pub enabled: bool,
    #[default = 20]
    pub max_campaigns: u32,
    #[default = 20]
    pub max_publishers: u32,
    #[default = 600]
    pub window_seconds: u64,
}

/// `publisher_spike`: a publisher's counted clicks in one hour above
/// `factor` times its hourly mean over the `baseline_hours` before, and
/// above `min_clicks`; the clicks past that allowance are invalid.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct PublisherSpikeRule {
    #[default = true]
    pub enabled: bool,
    #[default = 10.0]
    pub factor: f64,
    #[default = 500]
    pub min_clicks: u32,
    #[default = 24]
    pub baseline_hours: u32,
}

/// `impression_cycling`: one stored address and user agent clicking more
/// than `max_impressions` distinct impressions within `window_seconds`.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ImpressionCyclingRule {
    #[default = true]
    pub enabled: bool,
    #[default = 50]
    pub max_impressions: u32,
    #[default = 3600]
    pub window_seconds: u64,
}

/// The strike ladder: a publisher commits a violation on a day with at
/// least `min_gross_clicks` gross clicks of which more than
/// `max_invalid_share` are invalid.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct StrikesConfig {
    #[default = 100]
    pub min_gross_clicks: u64,
    #[default = 0.5]
    pub max_invalid_share: f64,
    /// Days the first and the second strike hold the publisher.
    #[default(vec![3, 7])]
    pub hold_days: Vec<u32>,
    /// A strike stops counting this many days after it was given.
    #[default = 90]
    pub expiry_days: u32,
}
