//! The tamper-evident journal: the source of truth for every stream.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod keys;
pub mod merkle;
pub mod proof;
