//! hubspot-wasm: the browser shell around [`hubspot_core`].
//!
//! It converts JavaScript values once ([`convert`]), hands every call and page signal to the
//! core's state machine ([`engine`]), and performs the effects it returns through
//! `js/shell.js` ([`page`]: `window._hsq`, script tags, timers, cookies, the console). No HubSpot
//! rule is decided here.
//!
//! In wasm the crate is `no_std`: std's panic machinery (payload boxing, the hook, message
//! formatting) would be linked for panics that only ever abort (`panic = "abort"`).

#![cfg_attr(target_family = "wasm", no_std)]

extern crate alloc;

pub mod convert;
pub mod engine;
pub mod error;
pub mod host;
pub mod page;
pub mod plugin;

pub use hubspot_core as core;
pub use plugin::Instance;

/// rlsf (a two-level segregated fit allocator, constant time) instead of the default dlmalloc:
/// a call allocates a string per key and value it carries, and a free list per size class serves
/// those fastest; its small configuration is also the smallest allocator we measured (talc before
/// it, bench/README.md §1).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: rlsf::SmallGlobalTlsf = rlsf::SmallGlobalTlsf::new();

/// Every panic aborts: a trap the page sees as a `RuntimeError`, with no message to format.
#[cfg(all(target_family = "wasm", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}
