//! hubspot-cloud: Segment-spec events delivered to HubSpot's REST API.
//!
//! - [`mapping`]: Segment message → HubSpot [`ops::Operation`]s (pure).
//! - [`client`]: typed HubSpot calls, auth (private-app token or OAuth refresh), errors
//!   classified into kinds.
//! - [`delivery`]: one task per portal: batching, merging, retries by time, a circuit breaker,
//!   rate limiting, outcomes.
//! - [`steps`]: what HubSpot needs around a write (definitions, unique keys, conflicts,
//!   lifecycle stages, associations).
//! - [`clock`]: time as a dependency, so tests run on paused time.
//! - [`queue`]: where messages wait (the [`queue::Queue`] trait and an in-memory queue).
//! - [`source`]: the other direction: a portal's CRM objects into SQLite tables.
//! - [`profiles`]: synced contacts and companies out as Segment identify and group calls.
//!
//! `client` knows endpoints and auth; `delivery` knows batching, retries and limits but not
//! payload shapes; `queue` knows persistence but not HubSpot.

pub mod app;
pub mod audiences;
pub mod client;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod mapping;
pub mod ops;
pub mod profiles;
pub mod queue;
pub mod relay;
pub mod source;
pub mod steps;
