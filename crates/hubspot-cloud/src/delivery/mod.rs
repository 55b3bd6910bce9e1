//! Delivery: one task per portal that leases jobs, batches them per endpoint (merged per record,
//! bisected when HubSpot refuses a batch), paces every call, and settles each job. Knows
//! nothing of payload shapes beyond an operation's batch key; HubSpot's extra steps around a
//! write live in `steps`.

mod breaker;
mod budget;
mod engine;
pub mod limiter;
pub mod limiter_pg;
mod pacer;
pub mod policy;

pub use breaker::{Breaker, BreakerConfig};
pub use budget::{RateBudget, Window};
pub use engine::{Engine, EngineConfig, EngineStats, Portal, PortalHealth, Report};
pub use pacer::{CallError, Pacer};

#[cfg(test)]
mod tests;
