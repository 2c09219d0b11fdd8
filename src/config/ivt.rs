//! `ivt`: the lists, the duplicate window and the actions of
//! [`crate::ivt`].

use serde::Deserialize;
use smart_default::SmartDefault;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Invalid-traffic filtering (GIVT): lists, the duplicate window, actions.
#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct IvtConfig {
    pub bots: BotsConfig,
    /// Internal ranges (`internal_ip`), inline CIDRs or addresses.
    pub internal_ips: Vec<String>,
    /// Files of internal ranges, one CIDR a line.
    pub internal_ip_files: Vec<PathBuf>,
    /// Data-center ranges (`datacenter_ip`), inline.
    pub datacenter_ips: Vec<String>,
    /// Files of data-center ranges, one CIDR a line.
    pub datacenter_ip_files: Vec<PathBuf>,
    /// With `geo.asn_db`: the shipped list of cloud and VPS hosting
    /// autonomous systems (`conf/asn/datacenter-asns.txt`); a click from one
    /// is `datacenter_ip`.
    #[default = true]
    pub datacenter_asns_builtin: bool,
    /// More data-center AS numbers, inline.
    pub datacenter_asns: Vec<u32>,
    /// Files of AS numbers, one a line (`#` comments).
    pub datacenter_asn_files: Vec<PathBuf>,
    /// Publishers on hold or suspended by the strike ladder, as `clickedge
    /// strikes export` writes them: their clicks are logged
    /// `publisher_hold` / `publisher_suspended` and still redirected.
    pub publisher_status_file: Option<PathBuf>,
    /// A current Chromium's user agent on this server's own TLS listener
    /// with neither client hints nor `Sec-Fetch-*` headers is
    /// `non_browser`; only ever flagged. On: real Chromium and Firefox
    /// never trip it (tests/browser.rs, docs/accuracy.md).
    #[default = true]
    pub header_consistency: bool,
    /// A click on the same campaign and impression this many seconds after a
    /// counted one is a `duplicate`. 0 turns the check off.
    #[default = 60]
    pub duplicate_window_seconds: u64,
    /// Most (campaign, impression) pairs remembered; the oldest are evicted.
    #[default = 1_000_000]
    pub duplicate_max_entries: usize,
    /// What a reason does to a click, by the reason's name (`known_bot:
    /// block`). A reason not listed keeps its default, which its
    /// declaration in `ivt` gives (prefetch and known_bot block, the rest
    /// flag).
    pub actions: BTreeMap<String, ActionKind>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct BotsConfig {
    /// The open default list compiled into clickedge (conf/bots/open-bots.txt).
    #[default = true]
    pub builtin: bool,
    /// More pattern files, same format: one case-insensitive regex a line.
    pub pattern_files: Vec<PathBuf>,
    /// More link-scanner files, same format (`link_scanner`, flagged).
    pub link_scanner_files: Vec<PathBuf>,
    /// The IAB/ABC International Spiders & Robots List, for licensees:
    /// the robot exclude list, the valid-browser include list, and the IP
    /// exclusion list, as published.
    pub iab_exclude_file: Option<PathBuf>,
    pub iab_include_file: Option<PathBuf>,
    pub iab_ip_file: Option<PathBuf>,
}

/// What happens to a click with a given reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Not redirected: 503 for prefetch, 403 otherwise. Logged `blocked`.
    Block,
    /// Answered as a normal click, logged invalid.
    Flag,
}
