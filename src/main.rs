//! `clickedge`: the shipped binary. The command line is
//! [`clickedge::cli`]; this file chooses the allocator.

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: each click allocates a few short-lived
/// buffers (the Location, the event line, Pingora's header maps); in the
/// load harness mimalloc served about 2.5% more clicks (see docs/benchmarks.md,
/// "Measured choices").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h, v3, which
/// the crate builds by default; v2 numbers it the same): the Rust crate
/// names only some options.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Memory freed by mimalloc goes back to the OS at once instead of after
    // a delay that only later allocations run out: with the default, the
    // resident size stayed at its peak after a burst of connections closed
    // (1,000 idle connections closed: 130 MiB stayed resident; with 0, back
    // to 32 MiB). SAFETY: stores an option value; nothing else runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    clickedge::cli::main()
}
