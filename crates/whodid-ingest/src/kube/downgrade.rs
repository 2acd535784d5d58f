//! Lowering an event's level without decoding it: the fast path for the
//! commonest policy effect.
//!
//! A policy that records an event at `Metadata` (or `Request`) when it was
//! captured at a higher level only removes `requestObject` /
//! `responseObject` and sets `level`. Decoding the bodies to do that is most
//! of the cost of ingest, so the bodies are cut out of the bytes received
//! and `level`'s value is replaced: every other byte stays as received.
//! `omitManagedFields` on a body that is kept, and redaction, still take the
//! full decode.
//!
//! [`cut_bodies`] does it with the places of `level` and the bodies that
//! reading the [`EventSummary`] found, so the event is read only once;
//! [`downgrade`] reads the event's top-level members itself, for callers
//! without a summary read from these bytes.

use std::fmt;
use std::ops::Range;

use whodid_model::k8s::EventSummary;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use whodid_model::k8s::Level;

/// Top-level members of one JSON object, in order, values as raw text.
struct Members<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(24);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `raw` at `level`, without the bodies that level does not keep, or
/// `None` when it is not a JSON object.
pub fn downgrade(raw: &[u8], level: Level) -> Option<Vec<u8>> {
    let members: Members<'_> = serde_json::from_slice(raw).ok()?;
    let mut out = Vec::with_capacity(raw.len().min(4096));
    out.push(b'{');
    let mut first = true;
    for (key, value) in &members.0 {
        let keep = match key.as_ref() {
            "requestObject" => level.keeps_request_body(),
            "responseObject" => level.keeps_response_body(),
            _ => true,
        };
        if !keep {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, key.as_ref()).ok()?;
        out.push(b':');
        if key == "level" {
            serde_json::to_writer(&mut out, level.as_str()).ok()?;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    out.push(b'}');
    Some(out)
}

/// `raw` at `level`, the bodies it does not keep cut out and `level` set,
/// using the places `summary` (read from `raw`) found; `None` when the
/// summary does not point into `raw`, a member is not written as plain
/// `"key":value` (an escaped key), or the two bodies are the object's first
/// two members (the cuts would share a comma), for [`downgrade`] to do
/// instead.
pub fn cut_bodies(raw: &[u8], summary: &EventSummary<'_>, level: Level) -> Option<Vec<u8>> {
    let mut cuts: Vec<(Range<usize>, &[u8])> = Vec::with_capacity(3);
    let replacement = match level {
        Level::None => return None,
        Level::Metadata => &br#""Metadata""#[..],
        Level::Request => br#""Request""#,
        Level::RequestResponse => br#""RequestResponse""#,
    };
    cuts.push((span_in(raw, summary.level.text?)?, replacement));
    let bodies = [
        (
            summary.request_object_text,
            level.keeps_request_body(),
            &b"\"requestObject\""[..],
        ),
        (
            summary.response_object_text,
            level.keeps_response_body(),
            b"\"responseObject\"",
        ),
    ];
    for (text, keep, key) in bodies {
        if let (Some(text), false) = (text, keep) {
            cuts.push((member_span(raw, span_in(raw, text)?, key)?, b""));
        }
    }
    cuts.sort_by_key(|(range, _)| range.start);
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for (range, with) in cuts {
        if range.start < at {
            return None;
        }
        out.extend_from_slice(&raw[at..range.start]);
        out.extend_from_slice(with);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// Where `text`, a slice of `raw`, lies in it.
fn span_in(raw: &[u8], text: &serde_json::value::RawValue) -> Option<Range<usize>> {
    let text = text.get().as_bytes();
    let start = (text.as_ptr() as usize).checked_sub(raw.as_ptr() as usize)?;
    let end = start.checked_add(text.len())?;
    (end <= raw.len()).then_some(start..end)
}

/// The bytes to remove for the member `key` whose value is at `value`: the
/// key, the colon, the value and one separating comma (the one before it,
/// or after it when it is the first member).
fn member_span(raw: &[u8], value: Range<usize>, key: &[u8]) -> Option<Range<usize>> {
    let colon = skip_space_back(raw, value.start).checked_sub(1)?;
    if raw[colon] != b':' {
        return None;
    }
    let key_end = skip_space_back(raw, colon);
    let key_start = key_end.checked_sub(key.len())?;
    if &raw[key_start..key_end] != key {
        return None;
    }
    let prev = skip_space_back(raw, key_start);
    match raw[..prev].last()? {
        b',' => Some(prev - 1..value.end),
        b'{' => {
            let after = &raw[value.end..];
            let spaces = after.iter().take_while(|b| is_json_space(b)).count();
            match after.get(spaces) {
                Some(b',') => Some(key_start..value.end + spaces + 1),
                _ => Some(key_start..value.end),
            }
        }
        _ => None,
    }
}

/// JSON's whitespace.
fn is_json_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The index where the whitespace that ends at `end` begins.
fn skip_space_back(raw: &[u8], end: usize) -> usize {
    end - raw[..end]
        .iter()
        .rev()
        .take_while(|b| is_json_space(b))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(raw: &[u8], level: Level) -> Option<String> {
        let summary = EventSummary::from_json(raw).unwrap();
        cut_bodies(raw, &summary, level).map(|out| String::from_utf8(out).unwrap())
    }

    const BASE: &str =
        r#""kind":"Event","auditID":"a","stage":"ResponseComplete","requestURI":"/","verb":"get""#;

    #[test]
    fn cutting_keeps_every_other_byte() {
        let raw = format!(
            r#"{{{BASE}, "level" : "RequestResponse","requestObject" : {{"level":"x","responseObject":1}} ,"responseObject":{{"y":1}},"annotations":{{"k":"v \u00e9"}}}}"#
        );
        assert_eq!(
            cut(raw.as_bytes(), Level::Metadata).unwrap(),
            format!(r#"{{{BASE}, "level" : "Metadata" ,"annotations":{{"k":"v \u00e9"}}}}"#)
        );
        assert_eq!(
            cut(raw.as_bytes(), Level::Request).unwrap(),
            format!(
                r#"{{{BASE}, "level" : "Request","requestObject" : {{"level":"x","responseObject":1}} ,"annotations":{{"k":"v \u00e9"}}}}"#
            )
        );
        // The body first, the level last, no bodies at all.
        let first = format!(r#"{{ "requestObject":[1] , {BASE},"level":"Request"}}"#);
        assert_eq!(
            cut(first.as_bytes(), Level::Metadata).unwrap(),
            format!(r#"{{  {BASE},"level":"Metadata"}}"#)
        );
        let bare = format!(r#"{{{BASE},"level":"Metadata"}}"#);
        assert_eq!(cut(bare.as_bytes(), Level::Metadata).unwrap(), bare);
    }

    #[test]
    fn cut_events_read_back_as_the_full_downgrade() {
        for level in [Level::Metadata, Level::Request] {
            let raw = format!(
                r#"{{{BASE},"level":"RequestResponse","requestObject":{{"a":[1,{{"b":"}}"}}]}},"responseObject":"s","annotations":{{}}}}"#
            );
            let cut: serde_json::Value =
                serde_json::from_str(&cut(raw.as_bytes(), level).unwrap()).unwrap();
            let full: serde_json::Value =
                serde_json::from_slice(&downgrade(raw.as_bytes(), level).unwrap()).unwrap();
            assert_eq!(cut, full, "{level}");
        }
    }

    #[test]
    fn escaped_keys_and_foreign_summaries_fall_back() {
        let escaped = format!(r#"{{{BASE},"level":"RequestResponse","request\u004fbject":{{}}}}"#);
        assert_eq!(cut(escaped.as_bytes(), Level::Metadata), None);
        let raw = format!(r#"{{{BASE},"level":"RequestResponse","requestObject":{{}}}}"#);
        let other = raw.clone().into_bytes();
        let summary = EventSummary::from_json(other.as_slice()).unwrap();
        assert_eq!(cut_bodies(raw.as_bytes(), &summary, Level::Metadata), None);
        assert_eq!(cut_bodies(raw.as_bytes(), &summary, Level::None), None);
    }

    #[test]
    fn bodies_go_and_everything_else_stays() {
        let raw = br#"{"kind":"Event","level":"RequestResponse","auditID":"a","requestObject":{"x": [1, 2]},"responseObject":{"y":1},"annotations":{"k":"v \u00e9"}}"#;
        let meta = downgrade(raw, Level::Metadata).unwrap();
        assert_eq!(
            std::str::from_utf8(&meta).unwrap(),
            r#"{"kind":"Event","level":"Metadata","auditID":"a","annotations":{"k":"v \u00e9"}}"#
        );
        let request = downgrade(raw, Level::Request).unwrap();
        assert_eq!(
            std::str::from_utf8(&request).unwrap(),
            r#"{"kind":"Event","level":"Request","auditID":"a","requestObject":{"x": [1, 2]},"annotations":{"k":"v \u00e9"}}"#
        );
        assert!(downgrade(b"[1]", Level::Metadata).is_none());
    }
}
