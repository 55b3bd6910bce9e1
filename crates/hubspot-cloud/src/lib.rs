//! hubspot-cloud: Segment-spec events delivered to HubSpot's REST API.
//!
//! - [`mapping`]: Segment message → HubSpot [`ops::Operation`]s (pure).
//! - [`client`]: typed HubSpot calls, auth (private-app token or OAuth refresh), errors
//!   classified into kinds.
//! - [`delivery`]: batching, merging, per-contact order, retries, rate limiting, outcomes.
//! - [`queue`]: where messages wait (the [`queue::Queue`] trait and an in-memory queue).
//!
//! `client` knows endpoints and auth; `delivery` knows batching, retries and limits but not
//! payload shapes; `queue` knows persistence but not HubSpot.

pub mod app;
pub mod client;
pub mod config;
pub mod delivery;
pub mod mapping;
pub mod ops;
pub mod queue;
pub mod relay;
