//! Bytes per entry of the duplicate-click window, measured: a counting
//! allocator around the system one, one million distinct impressions.
//!
//!     cargo run --release --example dup_memory [ENTRIES]

use clickedge::internals::ivt::DuplicateWindow;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |s| s.parse().unwrap());
    let before = LIVE.load(Ordering::Relaxed);
    let w = DuplicateWindow::new(Duration::from_secs(3600), n);
    let mut imp = String::new();
    for i in 0..n {
        imp.clear();
        imp.push_str("imp-");
        imp.push_str(&i.to_string());
        w.check_and_record(w.key("campaign-1", &imp), 0);
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before - imp.capacity();
    println!(
        "{} entries: {} bytes allocated, {:.1} bytes per entry",
        w.len(),
        bytes,
        bytes as f64 / w.len() as f64
    );
}
