//! Syslog lines in the formats nodes actually write, and journald JSON.
//!
//! Classic lines carry no year and no zone: the year comes from a reference
//! time (the file's modification time, or now), and moves forward when the
//! month goes backward (a December file continuing into January), and a line
//! dated more than a day after the reference belongs to the previous year (a
//! December log read in January). The zone is the node's, passed in.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::Timestamp;
use serde::Deserialize;

/// One syslog message with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogRecord {
    /// When it was logged.
    pub time: Timestamp,
    /// The host that logged it.
    pub host: String,
    /// The program (syslog tag / identifier), e.g. `sshd`, `sudo`.
    pub program: String,
    /// The process id, when the tag carried one.
    pub pid: Option<u32>,
    /// The message text.
    pub message: String,
}

/// Why a line is not a syslog line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// The timestamp could not be read.
    #[error("bad timestamp: {0}")]
    Timestamp(String),
    /// The line ends before host, tag or message.
    #[error("truncated line: no {0}")]
    Truncated(&'static str),
    /// Not valid UTF-8 or a control character where text was expected.
    #[error("not a text line")]
    NotText,
    /// A journald JSON record that could not be read.
    #[error("journald record: {0}")]
    Journald(String),
}

/// Turns classic timestamps (no year, no zone) into instants.
#[derive(Debug, Clone)]
pub struct ClassicClock {
    offset: Offset,
    reference: DateTime,
    year: i16,
    last_month: i8,
}

impl ClassicClock {
    /// A clock for a file whose lines were written before `reference`
    /// (e.g. the file's mtime), on a node whose local time is at `offset`.
    pub fn new(reference: Timestamp, offset: Offset) -> ClassicClock {
        let reference = offset.to_datetime(reference);
        ClassicClock {
            offset,
            reference,
            year: reference.year(),
            last_month: 0,
        }
    }

    fn resolve(&mut self, month: i8, day: i8, time: Time) -> Result<Timestamp, SyslogError> {
        if self.last_month == 0 {
            // First line: the reference year, unless that puts it after the reference.
            let candidate = Date::new(self.reference.year(), month, day)
                .map_err(|e| SyslogError::Timestamp(e.to_string()))?
                .to_datetime(time);
            if candidate
                > self
                    .reference
                    .saturating_add(jiff::SignedDuration::from_hours(24))
            {
                self.year = self.reference.year() - 1;
            }
        } else if month < self.last_month {
            // December → January: a new year.
            self.year += 1;
        }
        self.last_month = month;
        let date =
            Date::new(self.year, month, day).map_err(|e| SyslogError::Timestamp(e.to_string()))?;
        let local = date.to_datetime(time);
        self.offset
            .to_timestamp(local)
            .map_err(|e| SyslogError::Timestamp(e.to_string()))
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses one line in any of the three text formats.
pub fn parse_line(line: &str, clock: &mut ClassicClock) -> Result<SyslogRecord, SyslogError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.starts_with('<') {
        return parse_rfc5424(line);
    }
    if line.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return parse_rfc3339(line);
    }
    parse_classic(line, clock)
}

fn parse_classic(line: &str, clock: &mut ClassicClock) -> Result<SyslogRecord, SyslogError> {
    // "Nov 22 18:24:03 host tag[pid]: message" (day padded with a space).
    if line.len() < 16 || !line.is_char_boundary(15) {
        return Err(SyslogError::Truncated("timestamp"));
    }
    let (stamp, rest) = line.split_at(15);
    let month = MONTHS
        .iter()
        .position(|m| stamp.starts_with(m))
        .ok_or_else(|| SyslogError::Timestamp(stamp.to_owned()))? as i8
        + 1;
    let day: i8 = stamp[4..6]
        .trim()
        .parse()
        .map_err(|_| SyslogError::Timestamp(stamp.to_owned()))?;
    let time: Time = stamp[7..15]
        .parse()
        .map_err(|_| SyslogError::Timestamp(stamp.to_owned()))?;
    let time_stamp = clock.resolve(month, day, time)?;
    let (host, program, pid, message) = split_host_tag(rest.trim_start())?;
    Ok(SyslogRecord {
        time: time_stamp,
        host: host.to_owned(),
        program: program.to_owned(),
        pid,
        message: message.to_owned(),
    })
}

fn parse_rfc3339(line: &str) -> Result<SyslogRecord, SyslogError> {
    let (stamp, rest) = line.split_once(' ').ok_or(SyslogError::Truncated("host"))?;
    let time: Timestamp = stamp
        .parse()
        .map_err(|_| SyslogError::Timestamp(stamp.to_owned()))?;
    let (host, program, pid, message) = split_host_tag(rest)?;
    Ok(SyslogRecord {
        time,
        host: host.to_owned(),
        program: program.to_owned(),
        pid,
        message: message.to_owned(),
    })
}

/// `host tag[pid]: message` or `host tag: message`.
fn split_host_tag(rest: &str) -> Result<(&str, &str, Option<u32>, &str), SyslogError> {
    let (host, rest) = rest.split_once(' ').ok_or(SyslogError::Truncated("tag"))?;
    let (tag, message) = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|t| (t, "")))
        .ok_or(SyslogError::Truncated("message"))?;
    let (program, pid) = match tag.split_once('[') {
        Some((program, pid)) => (program, pid.trim_end_matches(']').parse().ok()),
        None => (tag, None),
    };
    if program.is_empty() || program.contains(' ') {
        return Err(SyslogError::Truncated("tag"));
    }
    Ok((host, program, pid, message))
}

fn parse_rfc5424(line: &str) -> Result<SyslogRecord, SyslogError> {
    // "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG"
    let close = line.find('>').ok_or(SyslogError::Truncated("priority"))?;
    let mut fields = line[close + 1..].splitn(7, ' ');
    let _version = fields.next().ok_or(SyslogError::Truncated("version"))?;
    let stamp = fields.next().ok_or(SyslogError::Truncated("timestamp"))?;
    let host = fields.next().ok_or(SyslogError::Truncated("host"))?;
    let app = fields.next().ok_or(SyslogError::Truncated("app name"))?;
    let procid = fields.next().ok_or(SyslogError::Truncated("process id"))?;
    let _msgid = fields.next().ok_or(SyslogError::Truncated("message id"))?;
    let rest = fields.next().unwrap_or("");
    let message = match rest.strip_prefix('-') {
        Some(after_nil_sd) => after_nil_sd.strip_prefix(' ').unwrap_or(after_nil_sd),
        None => match rest.find("] ") {
            Some(end) if rest.starts_with('[') => &rest[end + 2..],
            _ => rest,
        },
    };
    let message = message.strip_prefix(' ').unwrap_or(message);
    let time: Timestamp = stamp
        .parse()
        .map_err(|_| SyslogError::Timestamp(stamp.to_owned()))?;
    Ok(SyslogRecord {
        time,
        host: host.to_owned(),
        program: app.to_owned(),
        pid: procid.parse().ok(),
        message: message
            .strip_prefix('\u{feff}')
            .unwrap_or(message)
            .to_owned(),
    })
}

#[derive(Deserialize)]
struct JournalEntry {
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: String,
    #[serde(rename = "_HOSTNAME", default)]
    hostname: String,
    #[serde(rename = "SYSLOG_IDENTIFIER", default)]
    identifier: Option<String>,
    #[serde(rename = "_COMM", default)]
    comm: Option<String>,
    #[serde(rename = "SYSLOG_PID", default)]
    syslog_pid: Option<String>,
    #[serde(rename = "_PID", default)]
    pid: Option<String>,
    #[serde(rename = "MESSAGE")]
    message: serde_json::Value,
}

/// Parses one line of `journalctl -o json`.
pub fn parse_journald(line: &str) -> Result<SyslogRecord, SyslogError> {
    let entry: JournalEntry =
        serde_json::from_str(line).map_err(|e| SyslogError::Journald(e.to_string()))?;
    let micros: i64 = entry.realtime.parse().map_err(|_| {
        SyslogError::Journald(format!(
            "__REALTIME_TIMESTAMP {:?} is not a number",
            entry.realtime
        ))
    })?;
    let time =
        Timestamp::from_microsecond(micros).map_err(|e| SyslogError::Journald(e.to_string()))?;
    // MESSAGE is a string, or an array of bytes when it is not valid UTF-8.
    let message = match entry.message {
        serde_json::Value::String(s) => s,
        serde_json::Value::Array(bytes) => {
            let raw: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64())
                .map(|b| b as u8)
                .collect();
            String::from_utf8_lossy(&raw).into_owned()
        }
        other => return Err(SyslogError::Journald(format!("MESSAGE is {other}"))),
    };
    let program = entry
        .identifier
        .or(entry.comm)
        .ok_or_else(|| SyslogError::Journald("no SYSLOG_IDENTIFIER or _COMM".to_owned()))?;
    Ok(SyslogRecord {
        time,
        host: entry.hostname,
        program,
        pid: entry.syslog_pid.or(entry.pid).and_then(|p| p.parse().ok()),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_clock(reference: &str) -> ClassicClock {
        ClassicClock::new(reference.parse().unwrap(), Offset::UTC)
    }

    #[test]
    fn classic_line() {
        let mut clock = utc_clock("2026-11-23T00:00:00Z");
        let r = parse_line(
            "Nov 22 18:24:05 vm sudo:   ubuntu : TTY=pts/0 ; PWD=/root",
            &mut clock,
        )
        .unwrap();
        assert_eq!(r.time, "2026-11-22T18:24:05Z".parse::<Timestamp>().unwrap());
        assert_eq!(
            (r.host.as_str(), r.program.as_str(), r.pid),
            ("vm", "sudo", None)
        );
        assert_eq!(r.message, "  ubuntu : TTY=pts/0 ; PWD=/root");
    }

    #[test]
    fn year_is_inferred_across_new_year() {
        // A December log read in January belongs to the previous year…
        let mut clock = utc_clock("2027-01-02T10:00:00Z");
        let dec = parse_line("Dec 31 23:59:58 vm sshd[1]: x", &mut clock).unwrap();
        assert_eq!(
            dec.time,
            "2026-12-31T23:59:58Z".parse::<Timestamp>().unwrap()
        );
        // …and the lines after midnight in the same file to the next one.
        let jan = parse_line("Jan  1 00:00:01 vm sshd[1]: y", &mut clock).unwrap();
        assert_eq!(
            jan.time,
            "2027-01-01T00:00:01Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn rfc3339_and_rfc5424() {
        let mut clock = utc_clock("2026-11-23T00:00:00Z");
        let a = parse_line(
            "2026-11-22T18:24:03.054349+00:00 vm sshd[5172]: Connection from 127.0.0.1",
            &mut clock,
        )
        .unwrap();
        let b = parse_line(
            "<38>1 2026-11-22T18:24:03.054349+00:00 vm sshd 5172 - -  Connection from 127.0.0.1",
            &mut clock,
        )
        .unwrap();
        assert_eq!(a, b);
        let no_pid = parse_line(
            "<86>1 2026-11-22T18:24:05.1+00:00 vm sudo - - -    ubuntu : x",
            &mut clock,
        )
        .unwrap();
        assert_eq!(
            (no_pid.pid, no_pid.message.as_str()),
            (None, "  ubuntu : x"),
            "same padding as the classic format"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut clock = utc_clock("2026-11-23T00:00:00Z");
        for line in [
            "",
            "Nov",
            "Nov 22 18:24:05",
            "Xyz 22 18:24:05 vm a: b",
            "<38",
            "2026-13-99T00:00:00Z vm a: b",
            "\u{0}\u{1}ÿ",
            "Nov 22 18:24:05 vm",
        ] {
            assert!(parse_line(line, &mut clock).is_err(), "{line:?}");
        }
        assert!(parse_journald("{").is_err());
    }
}
