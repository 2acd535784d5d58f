//! The streams whodid keeps: one per source family, each with its own journal
//! and index family.

use std::fmt;
use std::str::FromStr;

/// An audit stream. The set is closed: every record belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Kubernetes API requests (`audit.k8s.io/v1` events).
    KubeAudit,
    /// SSH, sudo, su and PAM records from nodes.
    AuthLog,
    /// PostgreSQL pgaudit records.
    PgAudit,
    /// Application audit events posted to whodid's API.
    App,
    /// whodid's own audit: who read or exported which logs.
    Access,
}

impl Stream {
    /// Every stream, in a fixed order.
    pub const ALL: [Stream; 5] = [
        Stream::KubeAudit,
        Stream::AuthLog,
        Stream::PgAudit,
        Stream::App,
        Stream::Access,
    ];

    /// The stream's name as used on disk, in index names and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::KubeAudit => "kubeaudit",
            Stream::AuthLog => "authlog",
            Stream::PgAudit => "pgaudit",
            Stream::App => "app",
            Stream::Access => "access",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream name that is not one of [`Stream::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stream {0:?}: expected one of kubeaudit, authlog, pgaudit, app, access")]
pub struct UnknownStream(pub String);

impl FromStr for Stream {
    type Err = UnknownStream;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stream::ALL
            .into_iter()
            .find(|stream| stream.as_str() == s)
            .ok_or_else(|| UnknownStream(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for stream in Stream::ALL {
            assert_eq!(stream.as_str().parse::<Stream>(), Ok(stream));
        }
        assert!("kube-audit".parse::<Stream>().is_err());
    }
}
