//! Fills `<DATA_DIR>/clicks/` with N realistic click events, for measuring
//! `clickedge report` on a large spool.
//!
//!     cargo run --release --example fill_spool -- DATA_DIR [N]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: fill_spool DATA_DIR [N]"));
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let bytes = support::fill_spool(
        &dir.join("clicks"),
        n,
        Arc::new(clickedge::internals::metrics::Metrics::new()),
    );
    println!(
        "{n} events, {:.0} MB in {}",
        bytes as f64 / 1e6,
        dir.join("clicks").display()
    );
}
