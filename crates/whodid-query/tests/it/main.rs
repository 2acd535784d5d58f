//! Integration tests of search: the real fixtures ingested through the
//! journal and indexed, generated data for the equivalence property, bad
//! input, and the HTTP API against its OpenAPI document.
#![allow(clippy::unwrap_used)]

mod abuse;
mod bad_input;
mod damaged;
mod data;
mod equivalence;
mod fixtures;
mod http_api;
mod index_damage;
