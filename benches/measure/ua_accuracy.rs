//! How well the default bot lists separate crawlers from browsers, on
//! corpora of real user agents that are not in this repository.
//!
//!     cargo run --release --example ua_accuracy -- crawlers FILE... -- browsers FILE...
//!
//! Each file has one user agent a line. A crawler counts as caught when it
//! is classed `known_bot` or `non_browser`; a browser is wrongly flagged
//! when it is classed either, and wrongly blocked when its reason blocks
//! with the shipped actions (`known_bot`: a person turned away). `benches/corpus/evaluate.sh` fetches the
//! corpora and runs this.

use clickedge::internals::config::Config;
use clickedge::internals::policy::Policy;
use std::collections::BTreeSet;

fn read(files: &[String]) -> BTreeSet<String> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .lines()
                .map(|l| l.trim_end_matches('\r').to_string())
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--");
    let (crawler_args, browser_args) = match split {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..], &[][..]),
    };
    let strip = |a: &[String], word: &str| -> Vec<String> {
        a.iter().filter(|x| *x != word).cloned().collect()
    };
    let crawlers = read(&strip(crawler_args, "crawlers"));
    let browsers = read(&strip(browser_args, "browsers"));
    let cfg = Config::parse(include_str!("../../conf/clickedge.yaml")).unwrap();
    let policy = Policy::load(&cfg).unwrap();
    let bots = &policy.ivt.bots;

    let missed: Vec<&String> = crawlers
        .iter()
        .filter(|ua| bots.classify(ua).is_none())
        .collect();
    let flagged: Vec<&String> = browsers
        .iter()
        .filter(|ua| bots.classify(ua).is_some())
        .collect();
    if !crawlers.is_empty() {
        let crawlers_blocked = crawlers
            .iter()
            .filter(|ua| bots.classify(ua).is_some_and(|r| policy.ivt.blocks(r)))
            .count();
        println!(
            "crawlers: {} unique, caught {} ({:.2}%), missed {}; blocked {} ({:.2}%)",
            crawlers.len(),
            crawlers.len() - missed.len(),
            100.0 * (crawlers.len() - missed.len()) as f64 / crawlers.len() as f64,
            missed.len(),
            crawlers_blocked,
            100.0 * crawlers_blocked as f64 / crawlers.len() as f64
        );
    }
    let blocked: Vec<&&String> = flagged
        .iter()
        .filter(|ua| bots.classify(ua).is_some_and(|r| policy.ivt.blocks(r)))
        .collect();
    if !browsers.is_empty() {
        println!(
            "browsers: {} unique, flagged {} ({:.3}%), of them blocked {} ({:.3}%)",
            browsers.len(),
            flagged.len(),
            100.0 * flagged.len() as f64 / browsers.len() as f64,
            blocked.len(),
            100.0 * blocked.len() as f64 / browsers.len() as f64
        );
    }
    // SHOW=N prints the first N misses and false flags of each kind.
    if let Some(n) = std::env::var("SHOW").ok().map(|v| v.parse().unwrap_or(40)) {
        for m in missed.iter().take(n) {
            println!("missed  {m}");
        }
        // With the rule that flagged it, for tuning.
        let rule = |ua: &str| {
            bots.classify_with_rule(ua)
                .map_or(String::new(), |(_, r)| policy.ivt.rule_text(r))
        };
        for f in flagged.iter().take(n) {
            println!("flagged {}\t{f}", rule(f));
        }
        for b in blocked.iter().take(n) {
            println!("blocked {b}");
        }
        // Crawlers caught but only flagged: what a confident pattern could block.
        for c in crawlers
            .iter()
            .filter(|ua| bots.classify(ua).is_some_and(|r| !policy.ivt.blocks(r)))
            .take(n)
        {
            println!("flagged-crawler {c}");
        }
    }
}
