//! Lowering an event's level without decoding it: the fast path for the
//! commonest policy effect.
//!
//! A policy that records an event at `Metadata` (or `Request`) when it was
//! captured at a higher level only removes `requestObject` /
//! `responseObject` and sets `level`. Decoding the bodies to do that is most
//! of the cost of ingest, so the event is split into its top-level members
//! (each kept as raw JSON text, in order) and written again without them:
//! every other byte stays as received. `omitManagedFields` on a body that is
//! kept, and redaction, still take the full decode.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
