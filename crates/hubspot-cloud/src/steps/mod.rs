//! The HubSpot-specific steps around delivery's batched writes, each a rule HubSpot imposes:
//!
//! - [`definitions`]: what the portal defines (properties, custom events), cached, and values
//!   conformed to it before a write;
//! - [`keys`]: unique properties records are upserted by, created once (`segment_group_id`);
//! - [`conflicts`]: a 409 naming the existing record becomes an update of that record;
//! - [`lifecycle`]: a lifecycle stage HubSpot ignored (moved backwards) is cleared and set;
//! - [`associations`]: records associated with their contacts, looked up by email;
//! - [`audiences`]: each audience's checkbox property (after the custom-property limit check)
//!   or MANUAL list, made once per run.
//!
//! Every call goes through the portal's [`Pacer`](crate::delivery::Pacer). Delivery decides
//! when and in what batches; these steps decide what else HubSpot needs.

pub mod associations;
pub mod audiences;
pub mod conflicts;
pub mod definitions;
pub mod keys;
pub mod lifecycle;

use crate::delivery::CallError;

/// Per input of a write, in input order: the record id, or why it failed.
pub type Written = Vec<Result<String, CallError>>;
