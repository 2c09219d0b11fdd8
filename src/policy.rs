//! The policy: everything read from the config and the files it names that
//! decides whether a click is accepted and how it is judged — signing keys,
//! allowed hosts, bot lists, IP lists, actions.
//!
//! Built whole by [`Policy::load`], which reads every file and reports every
//! problem; shared read-only behind an `ArcSwap`; replaced whole on reload,
//! so a request sees either the old policy or the new one, never a mix. A
//! policy that fails to load is never installed: the old one stays.

use crate::click::ClickPolicy;
use crate::config::{Config, Problems, RulesConfig};
use crate::geo::CountryDb;
use crate::ivt::{BundleLists, Classifier, DuplicateWindow};

#[derive(Debug)]
pub struct Policy {
    /// Unique to this load: what a cache of verdicts made under a policy
    /// checks before it trusts them. Private, so that only a load sets it.
    generation: u64,
    pub click: ClickPolicy,
    pub ivt: Classifier,
    /// `geo.country_db`, when configured.
    pub country: Option<CountryDb>,
    /// The version of the rules bundle whose lists are in this policy (0:
    /// none).
    pub bundle_version: u64,
    /// Why the kept rules bundle was left out, if it was: the edge runs on
    /// its other lists and says so, rather than refusing to start.
    pub(crate) bundle_refused: Option<BundleLeftOut>,
    /// Conversion intake (`conversions`); `None`: the path answers 404.
    pub(crate) conversions: Option<crate::conversion::ConversionPolicy>,
}

/// Why a kept rules bundle is not in a policy.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleLeftOut {
    /// Its signature or files do not hold under `rules.public_key` (the
    /// key was rotated, or the file was changed).
    #[error("the kept rules bundle fails verification: {0}")]
    Unverified(crate::bundle::KeptError),
    /// It verifies, but a list in it does not load.
    #[error("the kept rules bundle (version {version}) has a list that does not load: {lists}")]
    Unloadable {
        version: u64,
        lists: crate::bundle::Unloadable,
    },
}

impl Policy {
    /// Reads every list the config names: each owner builds its part from
    /// its section. `Err` lists every problem, each naming its key, file
    /// and line.
    pub fn load(cfg: &Config) -> Result<Policy, Problems> {
        let mut p = Problems::default();
        let click = p.take(ClickPolicy::from_config(&cfg.signing, &cfg.click));
        p.take(DuplicateWindow::check_config(&cfg.ivt));
        let (bundle, bundle_refused) = match rules_bundle(cfg, &mut p) {
            Ok(b) => (b, None),
            Err(why) => (None, Some(why)),
        };
        let file = |name: &str| {
            let b = bundle.as_ref()?;
            b.files.get(name).map(String::as_str)
        };
        let lists = BundleLists {
            bot_patterns: file("bot_patterns.txt"),
            link_scanners: file("link_scanners.txt"),
            internal_ips: file("internal_ips.txt"),
            datacenter_ips: file("datacenter_ips.txt"),
            datacenter_asns: file("datacenter_asns.txt"),
            publishers: file("publishers.tsv"),
        };
        let ivt = p.take(Classifier::from_config(&cfg.ivt, &cfg.geo, &lists));
        let country = p.take(CountryDb::from_config(&cfg.geo));
        let conversions = p.take(crate::conversion::ConversionPolicy::from_config(
            &cfg.conversions,
        ));
        let (Some(click), Some(ivt), Some(country), Some(conversions)) =
            (click, ivt, country, conversions)
        else {
            return Err(p);
        };
        p.or(Policy {
            generation: next_generation(),
            bundle_version: bundle.as_ref().map_or(0, |b| b.version),
            bundle_refused,
            conversions,
            country,
            click,
            ivt,
        })
    }

    /// Unique to this load: a cache of what was worked out under one
    /// policy (the user agent's verdict) is trusted only under the policy
    /// of the same generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// The rules bundle the edge keeps, verified and loadable, when `rules` is
/// configured. A problem of the `rules` section is the config's; a kept
/// bundle that does not verify or load is `Err`: left out, never a
/// reason to refuse to start (the poller replaces it with the next good
/// one), and never kept by the poller in the first place.
fn rules_bundle(
    cfg: &Config,
    problems: &mut Problems,
) -> Result<Option<crate::bundle::Bundle>, BundleLeftOut> {
    let r = &cfg.rules;
    let Some(url) = r.url.as_ref() else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(
            "rules.url",
            format!("{url:?} is not an http:// or https:// URL"),
        );
    }
    if r.poll_seconds == 0 {
        problems.push(
            "rules.poll_seconds",
            format!(
                "must be at least 1 (default {})",
                RulesConfig::default().poll_seconds
            ),
        );
    }
    let Some(pk) = &r.public_key else {
        problems.push(
            "rules.public_key",
            "needed with rules.url (the key `clickedge rules keygen` printed)",
        );
        return Ok(None);
    };
    let key = match crate::bundle::parse_public_key(pk) {
        Ok(k) => k,
        Err(e) => {
            problems.push("rules.public_key", e.to_string());
            return Ok(None);
        }
    };
    let kept = crate::bundle::load_kept(&cfg.rules_bundle_path(), &key)
        .map_err(BundleLeftOut::Unverified)?;
    if let Some(b) = &kept {
        b.check().map_err(|lists| BundleLeftOut::Unloadable {
            version: b.version,
            lists,
        })?;
    }
    Ok(kept)
}

/// A number no other policy of this process has had.
pub(crate) fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
