//! The normalised envelope: the few facts every stream shares.
//!
//! Every stored record keeps the original event exactly as received *and* an
//! envelope — time, actor, action, target, namespace, cluster/node, source
//! address, outcome. The envelope is what lets one query follow one person
//! across Kubernetes, SSH, the database and the applications.
//!
//! **API boundary:** the envelope's JSON form (`Envelope::to_json`) is stored
//! in the journal next to each record, so its field names are a format:
//! fields may be added, never renamed. `v` is the envelope format version.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Stream;

/// The envelope format version written by this build.
pub const ENVELOPE_VERSION: u32 = 1;

/// The normalised facts of one audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Envelope format version ([`ENVELOPE_VERSION`]).
    pub v: u32,
    /// The stream the record belongs to.
    #[serde(with = "stream_name")]
    pub stream: Stream,
    /// When it happened (the source's own time, not when whodid received it).
    pub time: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// What was done, in the source's own words (`create`, `ssh.login`, `sudo`, `WRITE`, …).
    pub action: String,
    /// What it was done to (`pods/web-1`, `root`, `app.users`, …); empty when not applicable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Kubernetes namespace, when the record is about one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The cluster the record came from, from the sender's credential.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The node or host the record came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The client's network address, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Whether it worked.
    pub outcome: Outcome,
    /// Values removed before storage (secret data, tokens, passwords), by JSON path or field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// Where a record read from a file came from, on the last record of each
    /// batch a tailer appends: what lets a restarted tailer continue exactly
    /// after the last durable line (see `whodid_ingest::positions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The source position a tailed record was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The configured source's name (unique per data directory).
    pub source: String,
    /// The tailer's resume position just after this record, as the tailer
    /// serialises it (opaque here).
    pub after: serde_json::Value,
}

impl Envelope {
    /// The envelope's stored JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising this struct cannot fail: every field is a plain value.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an envelope from its stored JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Who did something, and how we know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The person or service, as resolved (`alice@example.com`,
    /// `system:serviceaccount:ci:deployer`); empty when unknown.
    pub name: String,
    /// Whether the actor is a person, a service, or unknown.
    pub kind: ActorKind,
    /// Groups, as the source reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// How the actor was identified (`kubernetes-user`, `ssh-key SHA256:…`, `pg-role`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identified_by: String,
    /// The account used when it differs from the person (a shared `ubuntu`
    /// login, an impersonated Kubernetes user, a database role).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub via: String,
}

/// The kind of actor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person.
    Person,
    /// A service, controller or application account.
    Service,
    /// Not known (unauthenticated requests, unknown SSH keys).
    #[default]
    Unknown,
}

/// Whether an action succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It worked.
    Success,
    /// It was refused by authentication or authorization.
    Denied,
    /// It failed for another reason.
    Failure,
    /// Not known (e.g. a request received but not yet answered).
    #[default]
    Unknown,
}

mod stream_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Stream;

    pub(super) fn serialize<S: Serializer>(stream: &Stream, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(stream.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Stream, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            stream: Stream::AuthLog,
            time: "2026-11-22T18:26:19.558835Z".parse().unwrap(),
            actor: Actor {
                name: "eve@example.com".into(),
                kind: ActorKind::Person,
                groups: vec![],
                identified_by: "ssh-key SHA256:abc".into(),
                via: "ubuntu".into(),
            },
            action: "ssh.login".into(),
            target: "ubuntu".into(),
            namespace: String::new(),
            cluster: String::new(),
            host: "node-1".into(),
            source: "10.0.0.7:51234".into(),
            outcome: Outcome::Success,
            redacted: vec![],
            origin: None,
        };
        let json = envelope.to_json();
        let text = std::str::from_utf8(&json).unwrap();
        assert!(text.contains("\"stream\":\"authlog\""), "{text}");
        assert_eq!(Envelope::from_json(&json).unwrap(), envelope);
    }
}
