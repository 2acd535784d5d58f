//! The tamper-evident journal: the source of truth for every stream.
#![warn(missing_docs)]
