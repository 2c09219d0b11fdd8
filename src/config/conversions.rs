//! `conversions`: the intake of conversions on the edge's listeners, the
//! actions catalog and the policy's term list ([`crate::conversion`]).

use serde::Deserialize;
use smart_default::SmartDefault;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a conversion action is (docs/contract.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Purchase,
    Lead,
    Signup,
    Subscription,
    AddToCart,
    Download,
    Contact,
    PageView,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Purchase => "purchase",
            Category::Lead => "lead",
            Category::Signup => "signup",
            Category::Subscription => "subscription",
            Category::AddToCart => "add_to_cart",
            Category::Download => "download",
            Category::Contact => "contact",
            Category::PageView => "page_view",
            Category::Other => "other",
        }
    }
}

/// One action a conversion may name in its `event` field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    pub category: Category,
    /// What the advertiser calls it (the conversion name in the ad
    /// platform's import); the action's name when empty. Checked against
    /// the policy's sensitive terms like the name.
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, SmartDefault)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub struct ConversionsConfig {
    /// Name → secret of each party allowed to report conversions (several
    /// at once, for rotation). None: `/v1/conversions` answers 404.
    pub keys: BTreeMap<String, String>,
    /// Key of the hash `txn` is stored as (`txn_hash`). The same on every
    /// edge, so a retry sent to another edge has the same hash; required
    /// with `keys`.
    pub txn_hash_key: String,
    /// A conversion more than this many days after its click is refused.
    #[default = 30]
    pub window_days: u32,
    /// Name → category (and label) of each action a conversion may name.
    pub actions: BTreeMap<String, ActionConfig>,
    /// More sensitive terms, in the format of the shipped list
    /// (`conf/conversions/sensitive-terms.tsv`, which always applies).
    pub sensitive_term_files: Vec<PathBuf>,
    /// Largest body a `POST /v1/conversions` may send, in bytes.
    #[default(1024 * 1024)]
    pub max_body_bytes: usize,
}
