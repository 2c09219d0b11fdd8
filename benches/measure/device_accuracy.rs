//! How often `device::classify` agrees with labelled real user agents.
//!
//!     cargo run --release --example device_accuracy -- FILE.tsv
//!
//! Each line is `LABEL<TAB>USER-AGENT`, with Matomo Device Detector's
//! device types as labels; `benches/corpus/evaluate.sh` extracts them from
//! its test fixtures (not in this repository). Labels map onto docs/contract.md §5's
//! classes: smartphone, phablet, feature phone, wearable and portable media
//! player are `mobile` (intoli's `mobile` too); console is `tv` (it sits under one); car browser,
//! camera, peripheral, smart speaker and smart display are `other`.

use clickedge::internals::device::{classify, Device};
use std::collections::BTreeMap;

fn expected(label: &str) -> Option<Device> {
    Some(match label {
        "desktop" => Device::Desktop,
        "mobile"
        | "smartphone"
        | "phablet"
        | "feature phone"
        | "wearable"
        | "portable media player" => Device::Mobile,
        "tablet" => Device::Tablet,
        "tv" | "console" => Device::Tv,
        "car browser" | "camera" | "peripheral" | "smart speaker" | "smart display" => {
            Device::Other
        }
        _ => return None,
    })
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: device_accuracy FILE.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // (expected, got) -> count
    let mut confusion: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let (mut total, mut right) = (0u64, 0u64);
    // SHOW=1 prints each disagreement: label, class, user agent.
    let show = std::env::var_os("SHOW").is_some();
    for line in text.lines() {
        let Some((label, ua)) = line.split_once('\t') else {
            continue;
        };
        let Some(want) = expected(label) else {
            continue;
        };
        let got = classify(ua, None);
        if show && got != want {
            println!("{}\t{}\t{ua}", want.as_str(), got.as_str());
        }
        total += 1;
        right += u64::from(got == want);
        *confusion.entry((want.as_str(), got.as_str())).or_default() += 1;
    }
    println!(
        "{right} of {total} user agents classed as labelled: {:.2}%",
        100.0 * right as f64 / total.max(1) as f64
    );
    let mut per_class: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for ((want, got), n) in &confusion {
        let e = per_class.entry(want).or_default();
        e.0 += n;
        if want == got {
            e.1 += n;
        }
    }
    for (class, (n, ok)) in &per_class {
        let wrong: Vec<String> = confusion
            .iter()
            .filter(|((w, g), _)| w == class && g != w)
            .map(|((_, g), c)| format!("{g} {c}"))
            .collect();
        println!(
            "  {class:8} {ok:6} of {n:6} ({:6.2}%)  wrong: {}",
            100.0 * *ok as f64 / (*n).max(1) as f64,
            wrong.join(", ")
        );
    }
}
