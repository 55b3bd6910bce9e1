//! The device-mode spec as tests: one binary, one module per section.
#![allow(missing_docs, clippy::unwrap_used)]

mod actions;
mod classic;
mod default_profile;
mod ordering;
mod properties;
mod support;
