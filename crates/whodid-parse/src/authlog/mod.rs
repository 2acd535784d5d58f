//! SSH, sudo, su and PAM: events, and who is behind them.
//!
//! [`events`] turns messages into typed [`AuthEvent`]s; [`keys`] maps key
//! fingerprints to people (from a YAML registry or `authorized_keys`
//! comments); [`attribution`] follows each SSH connection so that a login to
//! a shared account with Eve's key — and the sudo commands on its terminal —
//! are Eve's, via that account.

pub mod attribution;
mod events;
pub mod keys;

pub use events::{classify, AuthEvent, Certificate, Method};
