//! The three text shapes of a syslog line: classic (`Nov 22 18:24:03 host
//! tag[pid]: msg`), RFC 3339 (`2026-11-22T18:24:03.054349+00:00 host
//! tag[pid]: msg`) and RFC 5424 (`<38>1 TIMESTAMP HOST APP PROCID MSGID SD
//! MSG`). Timestamps are read by hand: this is the hot path of `auth.log`.

use std::borrow::Cow;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::Timestamp;

use super::{ClassicClock, SyslogError, SyslogLine};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses one text line in any of the three formats (detected per line).
pub fn parse_text<'a>(line: &'a str, clock: &ClassicClock) -> Result<SyslogLine<'a>, SyslogError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    match line.as_bytes().first() {
        Some(b'<') => parse_rfc5424(line),
        Some(b'0'..=b'9') => parse_rfc3339(line),
        _ => parse_classic(line, clock),
    }
}

fn bad_timestamp(text: &str) -> SyslogError {
    SyslogError::Timestamp {
        text: text.chars().take(40).collect(),
    }
}

fn truncated(missing: &'static str) -> SyslogError {
    SyslogError::Truncated { missing }
}

/// Two ASCII digits.
fn two(bytes: &[u8], at: usize) -> Option<i8> {
    let (a, b) = (*bytes.get(at)?, *bytes.get(at + 1)?);
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| ((a - b'0') * 10 + (b - b'0')) as i8)
}

/// `HH:MM:SS` at `at`.
fn hms(bytes: &[u8], at: usize) -> Option<Time> {
    if bytes.get(at + 2) != Some(&b':') || bytes.get(at + 5) != Some(&b':') {
        return None;
    }
    Time::new(two(bytes, at)?, two(bytes, at + 3)?, two(bytes, at + 6)?, 0).ok()
}

fn parse_classic<'a>(line: &'a str, clock: &ClassicClock) -> Result<SyslogLine<'a>, SyslogError> {
    // "Nov 22 18:24:03 host tag[pid]: message"; the day is space-padded.
    let bytes = line.as_bytes();
    if bytes.len() < 15 {
        return Err(if line.is_empty() {
            truncated("timestamp")
        } else {
            bad_timestamp(line)
        });
    }
    let month = MONTHS
        .iter()
        .position(|m| bytes[..3] == m[..])
        .ok_or_else(|| bad_timestamp(line))? as i8
        + 1;
    let day = match (bytes[4], bytes[5]) {
        (b' ', d) if d.is_ascii_digit() => (d - b'0') as i8,
        _ => two(bytes, 4).ok_or_else(|| bad_timestamp(line))?,
    };
    if bytes[3] != b' ' || bytes[6] != b' ' {
        return Err(bad_timestamp(line));
    }
    let time = hms(bytes, 7).ok_or_else(|| bad_timestamp(line))?;
    let instant = clock
        .resolve(month, day, time)
        .ok_or_else(|| bad_timestamp(line))?;
    // Exactly one space after the timestamp; a second one means an empty
    // host (seen from some relays: "Feb 22 10:21:43  sshd[1332]: …").
    let rest = line[15..]
        .strip_prefix(' ')
        .ok_or_else(|| truncated("host"))?;
    host_tag_message(instant, rest)
}

fn parse_rfc3339(line: &str) -> Result<SyslogLine<'_>, SyslogError> {
    let (stamp, rest) = line.split_once(' ').ok_or_else(|| truncated("host"))?;
    let time = rfc3339(stamp).ok_or_else(|| bad_timestamp(stamp))?;
    host_tag_message(time, rest)
}

/// `host tag[pid]: message`, `host tag: message`, `host tag:` (empty message).
fn host_tag_message(time: Timestamp, rest: &str) -> Result<SyslogLine<'_>, SyslogError> {
    let (host, rest) = rest.split_once(' ').ok_or_else(|| truncated("tag"))?;
    // syslogd's own "last message repeated N times" has no tag at all.
    if rest.starts_with("last message repeated ") {
        return Ok(SyslogLine {
            time,
            host: Cow::Borrowed(host),
            program: Cow::Borrowed(""),
            pid: None,
            audit_session: None,
            message: Cow::Borrowed(rest),
        });
    }
    let colon = rest.find(':').ok_or_else(|| truncated("message"))?;
    let tag = &rest[..colon];
    let message = &rest[colon + 1..];
    let message = message.strip_prefix(' ').unwrap_or(message);
    let (program, pid) = match tag.split_once('[') {
        Some((program, pid)) => {
            let pid = pid.strip_suffix(']').ok_or_else(|| truncated("tag"))?;
            (program, Some(pid.parse().map_err(|_| truncated("tag"))?))
        }
        None => (tag, None),
    };
    if program.is_empty() || program.contains(' ') {
        return Err(truncated("tag"));
    }
    Ok(SyslogLine {
        time,
        host: Cow::Borrowed(host),
        program: Cow::Borrowed(program),
        pid,
        audit_session: None,
        message: Cow::Borrowed(message),
    })
}

fn parse_rfc5424(line: &str) -> Result<SyslogLine<'_>, SyslogError> {
    // "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG"
    let close = line.find('>').ok_or_else(|| truncated("priority"))?;
    let mut fields = line[close + 1..].splitn(7, ' ');
    let mut next = |missing| fields.next().ok_or_else(|| truncated(missing));
    let _version = next("version")?;
    let stamp = next("timestamp")?;
    let host = next("host")?;
    let app = next("app name")?;
    let procid = next("process id")?;
    let _msgid = next("message id")?;
    let rest = fields.next().unwrap_or("");
    let time = rfc3339(stamp).ok_or_else(|| bad_timestamp(stamp))?;
    let message = skip_structured_data(rest);
    // rsyslog keeps the space that followed "tag:" in the message: drop it,
    // as for the other formats, and a UTF-8 BOM if the sender wrote one.
    let message = message.strip_prefix(' ').unwrap_or(message);
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Ok(SyslogLine {
        time,
        host: Cow::Borrowed(if host == "-" { "" } else { host }),
        program: Cow::Borrowed(if app == "-" { "" } else { app }),
        pid: procid.parse().ok(),
        audit_session: None,
        message: Cow::Borrowed(message),
    })
}

/// The text after the STRUCTURED-DATA part (`-` or `[id k="v"]…`).
fn skip_structured_data(rest: &str) -> &str {
    if let Some(after) = rest.strip_prefix('-') {
        return after.strip_prefix(' ').unwrap_or(after);
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        // Inside an element, `]` may be escaped as `\]` within a value.
        let mut escaped = false;
        i += 1;
        while let Some(&b) = bytes.get(i) {
            i += 1;
            match b {
                b'\\' if !escaped => escaped = true,
                b']' if !escaped => break,
                _ => escaped = false,
            }
        }
    }
    let after = &rest[i.min(rest.len())..];
    after.strip_prefix(' ').unwrap_or(after)
}

/// RFC 3339 with an optional fraction: `2026-11-22T18:24:03.054349+00:00`
/// or `…Z`. Hand-written for speed, jiff for anything unusual.
pub(crate) fn rfc3339(stamp: &str) -> Option<Timestamp> {
    fast_rfc3339(stamp.as_bytes()).or_else(|| stamp.parse().ok())
}

fn fast_rfc3339(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i16::from(two(b, 0)?) * 100 + i16::from(two(b, 2)?);
    let date = Date::new(year, two(b, 5)?, two(b, 8)?).ok()?;
    let time = hms(b, 11)?;
    let mut i = 19;
    let mut nanos: i32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(&d) = b.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            if digits < 9 {
                nanos = nanos * 10 + i32::from(d - b'0');
            }
            digits += 1;
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_seconds = match b.get(i)? {
        b'Z' | b'z' if b.len() == i + 1 => 0,
        sign @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let seconds = i32::from(two(b, i + 1)?) * 3600 + i32::from(two(b, i + 4)?) * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let local = DateTime::from_parts(date, time.with().subsec_nanosecond(nanos).build().ok()?);
    Offset::from_seconds(offset_seconds)
        .ok()?
        .to_timestamp(local)
        .ok()
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;

    use super::*;

    fn clock() -> ClassicClock {
        ClassicClock::new("2026-11-23T00:00:00Z".parse().unwrap(), TimeZone::UTC)
    }

    #[test]
    fn classic_line() {
        let r = parse_text(
            "Nov 22 18:24:05 vm sudo:   ubuntu : TTY=pts/0 ; PWD=/root",
            &clock(),
        )
        .unwrap();
        assert_eq!(r.time.to_string(), "2026-11-22T18:24:05Z");
        assert_eq!((&*r.host, &*r.program, r.pid), ("vm", "sudo", None));
        assert_eq!(r.message, "  ubuntu : TTY=pts/0 ; PWD=/root");
        let padded = parse_text("Jun  2 01:02:03 vm sshd[7]: x", &clock()).unwrap();
        assert_eq!(padded.time.to_string(), "2026-06-02T01:02:03Z");
        let no_host = parse_text("Feb 22 10:21:43  sshd[1332]: x", &clock()).unwrap();
        assert_eq!(
            (&*no_host.host, &*no_host.program, no_host.pid),
            ("", "sshd", Some(1332))
        );
        let repeated =
            parse_text("Feb 22 10:21:43 vm last message repeated 2 times", &clock()).unwrap();
        assert_eq!(repeated.program, "");
    }

    #[test]
    fn rfc3339_and_rfc5424_agree() {
        let a = parse_text(
            "2026-11-22T18:24:03.054349+00:00 vm sshd[5172]: Connection from 127.0.0.1",
            &clock(),
        )
        .unwrap();
        let b = parse_text(
            "<38>1 2026-11-22T18:24:03.054349+00:00 vm sshd 5172 - -  Connection from 127.0.0.1",
            &clock(),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.time.to_string(), "2026-11-22T18:24:03.054349Z");
        let no_pid = parse_text(
            "<86>1 2026-11-22T18:24:05.1+02:00 vm sudo - - -    ubuntu : x",
            &clock(),
        )
        .unwrap();
        assert_eq!((no_pid.pid, &*no_pid.message), (None, "  ubuntu : x"));
        assert_eq!(no_pid.time.to_string(), "2026-11-22T16:24:05.1Z");
        let sd = parse_text(
            r#"<38>1 2026-11-22T18:24:03Z vm sshd 1 - [a x="\]\""][b] hello"#,
            &clock(),
        )
        .unwrap();
        assert_eq!(sd.message, "hello");
    }

    #[test]
    fn fast_timestamps_match_jiff() {
        for s in [
            "2026-11-22T18:24:03.054349+00:00",
            "2026-11-22T18:24:03Z",
            "2026-11-22T18:24:03.1-05:30",
            "2024-02-29T23:59:59.999999999+14:00",
        ] {
            assert_eq!(fast_rfc3339(s.as_bytes()), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for line in [
            "",
            "Nov",
            "Nov 22 18:24:05",
            "Xyz 22 18:24:05 vm a: b",
            "<38",
            "2026-13-99T00:00:00Z vm a: b",
            "\u{0}\u{1}ÿ",
            "Nov 22 18:24:05 vm",
            "Nov 22 18:24:05 vm sshd[12",
            "Nov 22 18:24:05 vm sshd[x]: y",
            "Nov 22 1é:24:05 vm a: b",
        ] {
            assert!(parse_text(line, &clock()).is_err(), "{line:?}");
        }
    }
}
