//! The two wire shapes of Kubernetes audit events, split into the exact
//! bytes of each event: a webhook body (`EventList`) and a log-backend line
//! (one `Event`).
//!
//! Nothing is decoded beyond what is needed to find the items: each item is
//! kept as the sender wrote it, since the journal stores events exactly as
//! received.
//!
//! What a body costs once parsed is bounded by [`ParseLimits`], checked
//! before anything grows with it: an `EventList` of 3 MB of empty `{}`
//! items is a million events (each prepared into a record of its own), and
//! one item of tiny strings becomes a tree many times its size when it is
//! decoded in full (redaction). Items are counted while the list is read
//! and reading stops at the limit; each item's nesting depth and number of
//! JSON values are counted by a scan that allocates nothing.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use whodid_model::json::from_bytes_seed;
use whodid_model::k8s::API_VERSION;

/// Why a webhook body is not an `audit.k8s.io/v1` `EventList`, or one too
/// costly to take in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not JSON, cut off, or not an object with `items`.
    #[error("body is not a valid EventList: {message} at line {line}, column {column}")]
    Json {
        /// What the JSON parser said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// `apiVersion` missing or not `audit.k8s.io/v1`.
    #[error("EventList apiVersion {found:?} is not supported: expected \"audit.k8s.io/v1\"")]
    WrongApiVersion {
        /// What the body says ("" when missing).
        found: String,
    },
    /// `kind` missing or not `EventList`.
    #[error("body kind {found:?} is not \"EventList\"")]
    WrongKind {
        /// What the body says ("" when missing).
        found: String,
    },
    /// More items than [`ParseLimits::max_items`].
    #[error(
        "the EventList has more items than the limit of {limit} per batch (limits.max_batch_items)"
    )]
    TooManyItems {
        /// The limit.
        limit: usize,
    },
    /// An item nested deeper than [`ParseLimits::max_depth`].
    #[error("item {item} nests deeper than the limit of {limit} levels (limits.max_json_depth)")]
    TooDeep {
        /// 0-based index of the item.
        item: usize,
        /// The limit.
        limit: usize,
    },
    /// An item of more JSON values than [`ParseLimits::max_item_values`].
    #[error("item {item} has more JSON values than the limit of {limit} per event (limits.max_event_values)")]
    TooManyValues {
        /// 0-based index of the item.
        item: usize,
        /// The limit.
        limit: usize,
    },
}

impl BodyError {
    /// Whether the body was refused for its size once parsed (an HTTP 413)
    /// rather than its form (400).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            BodyError::TooManyItems { .. } | BodyError::TooManyValues { .. }
        )
    }
}

/// Bounds on what one webhook body may make once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Items of one `EventList`. The apiserver sends at most
    /// `--audit-webhook-batch-max-size` (default 400).
    pub max_items: usize,
    /// Nesting depth of one item (the item itself is level 1). Real events
    /// nest 11 to 17 levels; serde_json refuses to decode more than 128.
    pub max_depth: usize,
    /// JSON values of one item (every object, array, key, string, number
    /// and literal). The largest real events have a few thousand.
    pub max_item_values: usize,
}

impl ParseLimits {
    /// No bound (tests, benches, trusted files).
    pub const UNBOUNDED: ParseLimits = ParseLimits {
        max_items: usize::MAX,
        max_depth: usize::MAX,
        max_item_values: usize::MAX,
    };
}

impl Default for ParseLimits {
    /// 10,000 items (25 times the apiserver's default batch), 100 levels,
    /// 1,000,000 values per event (a few hundred times the largest real one).
    fn default() -> ParseLimits {
        ParseLimits {
            max_items: 10_000,
            max_depth: 100,
            max_item_values: 1_000_000,
        }
    }
}

/// The items of a webhook body, each as the exact bytes received.
/// (UTF-8 checked once: `whodid_model::json::from_bytes`.)
pub fn split_event_list(body: &[u8]) -> Result<Vec<&[u8]>, BodyError> {
    split_event_list_within(body, &ParseLimits::UNBOUNDED)
}

/// [`split_event_list`] within `limits`: the first limit passed is the error.
pub fn split_event_list_within<'a>(
    body: &'a [u8],
    limits: &ParseLimits,
) -> Result<Vec<&'a [u8]>, BodyError> {
    let over = Cell::new(false);
    let seed = ListSeed {
        limits,
        over: &over,
    };
    let list = from_bytes_seed(body, seed).map_err(|e| {
        if over.get() {
            return BodyError::TooManyItems {
                limit: limits.max_items,
            };
        }
        BodyError::Json {
            message: strip_position(&e),
            line: e.line(),
            column: e.column(),
        }
    })?;
    let api_version = list.api_version.unwrap_or_default();
    if api_version != API_VERSION {
        return Err(BodyError::WrongApiVersion { found: api_version });
    }
    let kind = list.kind.unwrap_or_default();
    if kind != "EventList" {
        return Err(BodyError::WrongKind { found: kind });
    }
    let items: Vec<&[u8]> = list
        .items
        .into_iter()
        .map(|item| item.get().as_bytes())
        .collect();
    if limits.max_depth != usize::MAX || limits.max_item_values != usize::MAX {
        for (i, item) in items.iter().enumerate() {
            check_item(item, i, limits)?;
        }
    }
    Ok(items)
}

struct ListShape<'a> {
    kind: Option<String>,
    api_version: Option<String>,
    items: Vec<&'a RawValue>,
}

/// Reads the list; `over` is set when reading stopped at the item limit.
struct ListSeed<'l> {
    limits: &'l ParseLimits,
    over: &'l Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ListShape<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ListShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an EventList object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut list = ListShape {
            kind: None,
            api_version: None,
            items: Vec::new(),
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "kind" => list.kind = map.next_value()?,
                "apiVersion" => list.api_version = map.next_value()?,
                "items" => {
                    list.items = map.next_value_seed(ItemsSeed {
                        max: self.limits.max_items,
                        over: self.over,
                    })?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(list)
    }
}

struct ItemsSeed<'l> {
    max: usize,
    over: &'l Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.max {
                self.over.set(true);
                return Err(serde::de::Error::custom("too many items"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// Scans the bytes of one item (valid JSON: the list parser accepted it)
/// for its depth and number of values, without allocating.
fn check_item(item: &[u8], index: usize, limits: &ParseLimits) -> Result<(), BodyError> {
    let mut depth = 0usize;
    let mut values = 0usize;
    let mut at = 0;
    while let Some(&byte) = item.get(at) {
        match byte {
            b'"' => {
                values += 1;
                at = string_end(item, at + 1);
                continue;
            }
            b'{' | b'[' => {
                values += 1;
                depth += 1;
                if depth > limits.max_depth {
                    return Err(BodyError::TooDeep {
                        item: index,
                        limit: limits.max_depth,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => {
                // A number or a literal: up to the next delimiter.
                values += 1;
                while item
                    .get(at + 1)
                    .is_some_and(|b| !b",:]} \t\r\n".contains(b))
                {
                    at += 1;
                }
            }
        }
        if values > limits.max_item_values {
            return Err(BodyError::TooManyValues {
                item: index,
                limit: limits.max_item_values,
            });
        }
        at += 1;
    }
    Ok(())
}

/// The position after the closing quote of a string whose content starts at `at`.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(found) = memchr::memchr2(b'"', b'\\', &bytes[at.min(bytes.len())..]) {
        let pos = at + found;
        if bytes[pos] == b'\\' {
            at = pos + 2;
        } else {
            return pos + 1;
        }
    }
    bytes.len()
}

/// serde_json appends " at line L column C" to its messages; we say it ourselves.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_bytes() {
        let body = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a": 1,  "b":"\u00e9"},{"c":2}]}"#;
        let items = split_event_list(body).unwrap();
        assert_eq!(items, [&br#"{"a": 1,  "b":"\u00e9"}"#[..], br#"{"c":2}"#]);
    }

    #[test]
    fn errors_say_what_and_where() {
        let cut = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"a":"#;
        let err = split_event_list(cut).unwrap_err();
        assert!(matches!(err, BodyError::Json { line: 1, .. }), "{err}");
        let old = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}"#;
        let err = split_event_list(old).unwrap_err().to_string();
        assert!(err.contains("audit.k8s.io/v1beta1"), "{err}");
        let pod = br#"{"kind":"Pod","apiVersion":"audit.k8s.io/v1","items":[]}"#;
        assert!(matches!(
            split_event_list(pod),
            Err(BodyError::WrongKind { .. })
        ));
        assert!(split_event_list(b"[]").is_err());
        assert!(matches!(
            split_event_list(b"\x00\xff"),
            Err(BodyError::Json { .. })
        ));
    }

    fn limits(max_items: usize, max_depth: usize, max_item_values: usize) -> ParseLimits {
        ParseLimits {
            max_items,
            max_depth,
            max_item_values,
        }
    }

    fn list(items: &str) -> Vec<u8> {
        format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{"x":[[[[1]]]]}},"items":[{items}]}}"#).into_bytes()
    }

    #[test]
    fn items_are_counted_up_to_the_limit() {
        let body = list("{},{},{}");
        assert_eq!(
            split_event_list_within(&body, &limits(3, 9, 9))
                .unwrap()
                .len(),
            3
        );
        let err = split_event_list_within(&body, &limits(2, 9, 9)).unwrap_err();
        assert!(matches!(err, BodyError::TooManyItems { limit: 2 }), "{err}");
        assert!(err.is_too_large());
        assert!(err.to_string().contains("limits.max_batch_items"), "{err}");
        // Bad JSON after the limit is still the limit; before it, bad JSON.
        let bad = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{},{},"#;
        assert!(matches!(
            split_event_list_within(bad, &limits(2, 9, 9)),
            Err(BodyError::TooManyItems { .. })
        ));
        assert!(matches!(
            split_event_list_within(bad, &limits(9, 9, 9)),
            Err(BodyError::Json { .. })
        ));
        // `items: null` is an empty list (Go's nil slice).
        let null = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}"#;
        assert!(split_event_list_within(null, &limits(2, 9, 9))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn depth_and_values_of_each_item_are_bounded() {
        // Depth 3, values: object, "a", array, 1, true, "x", object, "b", -1.5e3 = 9.
        // Brackets and quotes inside strings count for nothing.
        let item = r#"{"a": [1, true, "x\"[{", {"b": -1.5e3}]}"#;
        let body = list(&format!("{{}},{item}"));
        assert_eq!(
            split_event_list_within(&body, &limits(9, 3, 9))
                .unwrap()
                .len(),
            2
        );
        let err = split_event_list_within(&body, &limits(9, 2, 9)).unwrap_err();
        assert!(
            matches!(err, BodyError::TooDeep { item: 1, limit: 2 }),
            "{err}"
        );
        assert!(!err.is_too_large());
        assert!(err.to_string().contains("limits.max_json_depth"), "{err}");
        let err = split_event_list_within(&body, &limits(9, 3, 8)).unwrap_err();
        assert!(
            matches!(err, BodyError::TooManyValues { item: 1, limit: 8 }),
            "{err}"
        );
        assert!(err.to_string().contains("limits.max_event_values"), "{err}");
    }

    #[test]
    fn real_bodies_are_within_the_default_limits() {
        for name in [
            "batch-00001.json.gz",
            "batch-00010.json.gz",
            "batch-00011.json",
        ] {
            let body = whodid_testkit::testdata::read(&format!("k8s/webhook/{name}"));
            let bounded = split_event_list_within(&body, &ParseLimits::default()).unwrap();
            assert_eq!(bounded, split_event_list(&body).unwrap(), "{name}");
        }
    }
}
