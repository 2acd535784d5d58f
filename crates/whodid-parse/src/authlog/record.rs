//! The authlog record: an event with its syslog envelope and the SSH
//! connection it belongs to, and the normalised [`Envelope`] made from it.

use jiff::Timestamp;
use serde::Serialize;
use whodid_model::{Envelope, Stream, ENVELOPE_VERSION};

use super::attribution::{Attribution, ConnectionRef, Link};
use super::events::AuthEvent;
use crate::syslog::SyslogLine;

/// One audit-relevant line of an auth log.
///
/// Its JSON form (golden files, `whodid` output) is `{time, host, program,
/// pid, event, …event fields, connection, link, unknown_key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthRecord {
    /// When it was logged.
    pub time: Timestamp,
    /// The node.
    pub host: String,
    /// The program (`sshd`, `sudo`, `su`, …).
    pub program: String,
    /// Its process id, when the line gives one.
    pub pid: Option<u32>,
    /// What happened.
    #[serde(flatten)]
    pub event: AuthEvent,
    /// The SSH connection it belongs to, when linked.
    pub connection: Option<ConnectionRef>,
    /// How it was linked to that connection.
    pub link: Option<Link>,
    /// A key the registry does not know was used (on this line, or for the
    /// login of its connection).
    pub unknown_key: bool,
}

impl AuthRecord {
    pub(crate) fn new(line: &SyslogLine<'_>, event: AuthEvent, who: &Attribution) -> AuthRecord {
        AuthRecord {
            time: line.time,
            host: line.host.to_string(),
            program: line.program.to_string(),
            pid: line.pid,
            event,
            connection: who.connection.clone(),
            link: who.link,
            unknown_key: who.unknown_key,
        }
    }

    /// The normalised envelope: actor as attributed, action and outcome
    /// from the event, target the account acted on (logged into, sudo'd
    /// to), source the SSH client of the connection.
    pub(crate) fn envelope(&self, who: Attribution) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            stream: Stream::AuthLog,
            time: self.time,
            actor: who.actor,
            action: self.event.action().to_owned(),
            target: self.event.target().to_owned(),
            namespace: String::new(),
            cluster: String::new(),
            host: self.host.clone(),
            source: who.source,
            outcome: self.event.outcome(),
            redacted: Vec::new(),
            origin: None,
        }
    }
}
