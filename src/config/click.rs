//! `signing` and `click`: what [`crate::click::ClickPolicy`] is built from.

use serde::Deserialize;
use smart_default::SmartDefault;

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Refuse clicks without a valid signature (403). When false, signatures
    /// are not checked and only `allowed_landing_hosts` are redirected to.
    #[default = true]
    pub required: bool,
    /// Keys in force; several at once for rotation. None by default: the
    /// shipped file carries a development key.
    pub keys: Vec<KeyConfig>,
    /// Key that `clickedge sign` uses; default: the first key.
    pub sign_with: Option<String>,
    /// Landing hosts that may be redirected to: `example.com` (exact) or
    /// `*.example.com` (any subdomain, not the apex). Required when signing is
    /// off; when signing is on and the list is not empty it is enforced too.
    pub allowed_landing_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The `kid` value in click URLs.
    pub id: String,
    /// The HMAC-SHA256 secret, used as raw bytes; at least 16, better 32.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ClickConfig {
    /// Name of the query parameter that carries the click id to the landing page.
    #[default("clickid".to_string())]
    pub clickid_param: String,
    /// Longest query string accepted on `/c` and `/b`; longer is a 400.
    #[default = 4096]
    pub max_query_bytes: usize,
    /// Most bytes of a beacon POST body read (and ignored); past it the
    /// connection is closed after the answer.
    #[default(16 * 1024)]
    pub beacon_max_body_bytes: usize,
    /// Serve `/robots.txt` disallowing the click paths.
    #[default = true]
    pub robots_txt: bool,
    /// The ad platforms' click-id parameters a template click may carry
    /// after `sig` (docs/contract.md §3).
    #[default(["gclid", "gbraid", "wbraid", "msclkid"].map(String::from).to_vec())]
    pub platform_click_params: Vec<String>,
}
