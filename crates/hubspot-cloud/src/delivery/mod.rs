//! Delivery: batching per portal and endpoint, merging, per-contact order, retries, rate
//! limiting and outcomes. Knows nothing of payload shapes beyond the operations' batch keys.

mod engine;
pub mod limiter;
pub mod policy;

pub use engine::{Engine, EngineConfig, EngineStats, Portal, Report, now_ms, ordering_key};
