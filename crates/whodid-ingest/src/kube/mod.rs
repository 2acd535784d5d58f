//! Kubernetes audit events: wire shapes, preparation (policy, redaction,
//! envelope), and the deduplicating store.

pub mod body;
pub mod prepare;
pub mod redact;
pub mod store;
