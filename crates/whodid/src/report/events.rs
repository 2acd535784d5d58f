//! The event behind a stored authlog record, re-read from its raw line:
//! the envelope says who and where; the command of a sudo, the key type of
//! a login and the terminal are only in the line itself.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use whodid_parse::authlog::{classify, AuthEvent};
use whodid_parse::syslog::{parse_json, parse_text, ClassicClock};

/// The event of a raw authlog line (syslog text, journal JSON, or a bare
/// sshd message from `sshd -E`), if it is one.
pub(crate) fn event_of(raw: &str, time: Timestamp) -> Option<AuthEvent> {
    let clock = ClassicClock::new(time, TimeZone::UTC);
    let parsed = if raw.starts_with('{') {
        parse_json(raw).ok()
    } else {
        parse_text(raw, &clock).ok()
    };
    match parsed {
        Some(line) => classify(&line.program, &line.message).ok().flatten(),
        None => classify("sshd", raw).ok().flatten(),
    }
}
