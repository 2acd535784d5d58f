//! SSH, sudo, su and PAM: events, and who is behind them.
//!
//! [`AuthLogParser`] is what a tailer feeds, line by line: it reads the
//! syslog envelope ([`crate::syslog`]), classifies the message
//! ([`classify`] → [`AuthEvent`]; noise is skipped and counted), follows
//! SSH connections ([`attribution`]) so that a login to a shared account
//! with Eve's key — and the sudo on its terminal — are Eve's, via that
//! account ([`keys`] maps fingerprints to people), and emits an
//! [`AuthRecord`] with its envelope.

mod actors;
pub mod attribution;
mod connections;
mod events;
pub mod keys;
mod logind;
mod pam;
mod parser;
mod record;
mod sshd;
mod sudo;

pub use events::{classify, AuthEvent, Certificate, LogindChange, Method, ShapeError};
pub use parser::{
    parse_auth_log, AuthLogConfig, AuthLogFormat, AuthLogParser, DEFAULT_MAX_LINE_BYTES,
};
pub use record::AuthRecord;
