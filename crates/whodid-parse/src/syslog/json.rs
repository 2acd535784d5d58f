//! Journal entries as JSON: `journalctl -o json` and rsyslog's JSON with
//! trusted properties (`msg`, `timereported`, `programname`, `procid`,
//! `trusted.pid`).
//!
//! journald writes every value as a string, `MESSAGE` as an array of bytes
//! when it is not UTF-8, and a field that occurs twice as an array. The
//! kernel-vouched `_PID` stands in for the tag's pid when the tag has none
//! (sudo), and `_AUDIT_SESSION` names the login session — the link from a
//! sudo back to the SSH login that a text file cannot give.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{SyslogError, SyslogLine};

#[derive(Deserialize)]
struct Entry<'a> {
    // journald
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow, default)]
    realtime: Option<Loose<'a>>,
    #[serde(rename = "_HOSTNAME", borrow, default)]
    hostname: Option<Loose<'a>>,
    #[serde(rename = "SYSLOG_IDENTIFIER", borrow, default)]
    identifier: Option<Loose<'a>>,
    #[serde(rename = "_COMM", borrow, default)]
    comm: Option<Loose<'a>>,
    #[serde(rename = "SYSLOG_PID", borrow, default)]
    syslog_pid: Option<Loose<'a>>,
    #[serde(rename = "_PID", borrow, default)]
    pid: Option<Loose<'a>>,
    #[serde(rename = "_AUDIT_SESSION", borrow, default)]
    audit_session: Option<Loose<'a>>,
    #[serde(rename = "MESSAGE", borrow, default)]
    message: Option<Loose<'a>>,
    // rsyslog
    #[serde(borrow, default)]
    msg: Option<Loose<'a>>,
    #[serde(borrow, default)]
    timereported: Option<Loose<'a>>,
    #[serde(borrow, default)]
    timegenerated: Option<Loose<'a>>,
    #[serde(rename = "hostname", borrow, default)]
    hostname_rsyslog: Option<Loose<'a>>,
    #[serde(borrow, default)]
    programname: Option<Loose<'a>>,
    #[serde(borrow, default)]
    procid: Option<Loose<'a>>,
    #[serde(default)]
    trusted: Option<Trusted>,
}

#[derive(Deserialize)]
struct Trusted {
    #[serde(default)]
    pid: Option<u32>,
}

/// A journal value: a string, a number, a byte array (non-UTF-8 text) or,
/// for a repeated field, an array whose first element counts.
struct Loose<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or an array of bytes")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose(Cow::Owned(v.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose(Cow::Owned(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose(Cow::Owned(v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose(Cow::Borrowed("")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut bytes = Vec::new();
        let mut first_text: Option<Loose<'de>> = None;
        while let Some(element) = seq.next_element::<ByteOrText<'de>>()? {
            match element {
                ByteOrText::Byte(b) => bytes.push(b),
                ByteOrText::Text(t) => {
                    first_text.get_or_insert(t);
                }
            }
        }
        Ok(first_text
            .unwrap_or_else(|| Loose(Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()))))
    }
}

enum ByteOrText<'a> {
    Byte(u8),
    Text(Loose<'a>),
}

impl<'de> Deserialize<'de> for ByteOrText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ByteOrText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u8::try_from(v)
                    .map(ByteOrText::Byte)
                    .map_err(|_| E::custom("byte out of range"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ByteOrText::Text(Loose(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ByteOrText::Text(Loose(Cow::Owned(v.to_owned()))))
            }
        }
        d.deserialize_any(V)
    }
}

fn field(value: Option<Loose<'_>>) -> Option<Cow<'_, str>> {
    value.map(|v| v.0)
}

fn number(value: Option<Loose<'_>>) -> Option<u32> {
    value.and_then(|v| v.0.trim().parse().ok())
}

/// Parses one journal entry (journald or rsyslog JSON).
pub fn parse_json(line: &str) -> Result<SyslogLine<'_>, SyslogError> {
    let entry: Entry<'_> = serde_json::from_str(line).map_err(|e| SyslogError::Json {
        reason: e.to_string(),
    })?;
    if entry.realtime.is_some() || entry.message.is_some() {
        return journald(entry);
    }
    rsyslog(entry)
}

fn journald(entry: Entry<'_>) -> Result<SyslogLine<'_>, SyslogError> {
    let bad = |field, problem| SyslogError::JournalField { field, problem };
    let micros: i64 = field(entry.realtime)
        .ok_or(bad("__REALTIME_TIMESTAMP", "is missing"))?
        .trim()
        .parse()
        .map_err(|_| bad("__REALTIME_TIMESTAMP", "is not a number"))?;
    let time = Timestamp::from_microsecond(micros)
        .map_err(|_| bad("__REALTIME_TIMESTAMP", "is out of range"))?;
    let message = field(entry.message).ok_or(bad("MESSAGE", "is missing"))?;
    let program = field(entry.identifier)
        .or(field(entry.comm))
        .ok_or(bad("SYSLOG_IDENTIFIER", "and _COMM are missing"))?;
    Ok(SyslogLine {
        time,
        host: field(entry.hostname).unwrap_or_default(),
        program,
        pid: number(entry.syslog_pid).or(number(entry.pid)),
        audit_session: number(entry.audit_session).filter(|s| *s != u32::MAX),
        message,
    })
}

fn rsyslog(entry: Entry<'_>) -> Result<SyslogLine<'_>, SyslogError> {
    let bad = |field, problem| SyslogError::JournalField { field, problem };
    let stamp = field(entry.timereported)
        .or(field(entry.timegenerated))
        .ok_or(bad(
            "__REALTIME_TIMESTAMP",
            "(or rsyslog timereported) is missing",
        ))?;
    let time = super::text::rfc3339(&stamp).ok_or(bad("timereported", "is not RFC 3339"))?;
    let message = field(entry.msg).ok_or(bad("MESSAGE", "(or rsyslog msg) is missing"))?;
    // rsyslog's msg keeps the space that followed "tag:".
    let message = match message {
        Cow::Borrowed(m) => Cow::Borrowed(m.strip_prefix(' ').unwrap_or(m)),
        Cow::Owned(m) => Cow::Owned(m.strip_prefix(' ').unwrap_or(&m).to_owned()),
    };
    let program = field(entry.programname).ok_or(bad("programname", "is missing"))?;
    Ok(SyslogLine {
        time,
        host: field(entry.hostname_rsyslog).unwrap_or_default(),
        program,
        pid: number(entry.procid).or(entry.trusted.and_then(|t| t.pid)),
        audit_session: None,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_entry() {
        let line = r#"{"__REALTIME_TIMESTAMP":"1795371845408511","SYSLOG_IDENTIFIER":"sudo","MESSAGE":"  ubuntu : TTY=pts/0","_PID":"5198","_HOSTNAME":"vm","_AUDIT_SESSION":"4"}"#;
        let r = parse_json(line).unwrap();
        assert_eq!(r.time.to_string(), "2026-11-22T18:24:05.408511Z");
        assert_eq!(
            (&*r.program, r.pid, r.audit_session),
            ("sudo", Some(5198), Some(4))
        );
        assert!(
            matches!(r.message, Cow::Borrowed(_)),
            "no copy without escapes"
        );
    }

    #[test]
    fn message_as_bytes_and_repeated_fields() {
        let line = r#"{"__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":["sshd","x"],"MESSAGE":[104,105,255]}"#;
        let r = parse_json(line).unwrap();
        assert_eq!((&*r.program, &*r.message), ("sshd", "hi\u{fffd}"));
    }

    #[test]
    fn rsyslog_trusted_properties() {
        let line = r#"{"msg":" Accepted password for dave","timereported":"2026-11-22T18:24:42.1+00:00","hostname":"vm","programname":"sshd","procid":"-","trusted":{"pid":6320,"uid":0}}"#;
        let r = parse_json(line).unwrap();
        assert_eq!(
            (&*r.program, r.pid, &*r.message),
            ("sshd", Some(6320), "Accepted password for dave")
        );
    }

    #[test]
    fn bad_entries() {
        for line in [
            "{",
            "[]",
            r#"{"MESSAGE":"x"}"#,
            r#"{"__REALTIME_TIMESTAMP":"x","MESSAGE":"m","SYSLOG_IDENTIFIER":"a"}"#,
            r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":[300]}"#,
            r#"{"__REALTIME_TIMESTAMP":"99999999999999999999","MESSAGE":"m","_COMM":"a"}"#,
        ] {
            assert!(parse_json(line).is_err(), "{line}");
        }
    }
}
