//! Splitting a captured audit log into events, whatever shape it has.
//!
//! The apiserver writes audit events in two shapes: the log backend writes one
//! `Event` per line, and the webhook backend posts one `EventList` document per
//! batch (which people save to files, sometimes pretty-printed). Tools that
//! read "a log" accept both. A broken line in a JSON-lines file is reported
//! with its line number and the rest of the file is still read.

use serde_json::value::RawValue;

use super::decode::{decode_event, decode_event_list, DecodeError};
use super::event::Event;

/// The shape of a captured log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogShape {
    /// One JSON object per line (the log backend).
    JsonLines,
    /// One `EventList` document (the webhook backend).
    EventList,
}

/// Where an event was found in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLocation {
    /// 1-based line of the event (the line of the list's start for list items).
    pub line: usize,
    /// 0-based item index inside an `EventList`, if the event came from one.
    pub item: Option<usize>,
}

impl std::fmt::Display for EventLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some(item) => write!(f, "line {}, item {}", self.line, item),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// One event read from a log, with the exact bytes it was read from.
#[derive(Debug, Clone)]
pub struct LogEvent<'a> {
    /// Where it was found.
    pub location: EventLocation,
    /// The event's JSON exactly as it appeared in the input.
    pub raw: &'a [u8],
    /// The decoded event.
    pub event: Event,
}

/// An event that could not be read, with where it was.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {source}")]
pub struct LogError {
    /// Where the bad input was.
    pub location: EventLocation,
    /// What was wrong with it.
    #[source]
    pub source: DecodeError,
}

/// Guesses the shape of a log from its content: a document whose first line is
/// not a whole JSON value, or whose first value is an `EventList`, is a list.
pub fn detect_shape(input: &[u8]) -> LogShape {
    let first_line = input
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|line| !line.is_empty());
    let Some(first_line) = first_line else {
        return LogShape::JsonLines;
    };
    match serde_json::from_slice::<&RawValue>(first_line) {
        Ok(_) if first_line.windows(11).any(|w| w == b"\"EventList\"") => LogShape::EventList,
        Ok(_) => LogShape::JsonLines,
        Err(_) => {
            if serde_json::from_slice::<&RawValue>(input.trim_ascii()).is_ok() {
                LogShape::EventList
            } else {
                LogShape::JsonLines
            }
        }
    }
}

/// Reads every event of `input`, calling `on_event` for each good one and
/// `on_error` for each bad one, and returns the detected shape.
///
/// JSON lines: empty lines are skipped; a line that is an `EventList` is
/// expanded. A list document: its items, in order.
pub fn read_log<'a>(
    input: &'a [u8],
    mut on_event: impl FnMut(LogEvent<'a>),
    mut on_error: impl FnMut(LogError),
) -> LogShape {
    let shape = detect_shape(input);
    match shape {
        LogShape::JsonLines => {
            for (index, line) in input.split(|&b| b == b'\n').enumerate() {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                read_document(line, index + 1, &mut on_event, &mut on_error);
            }
        }
        LogShape::EventList => {
            let start = input.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let line = 1 + input[..start].iter().filter(|&&b| b == b'\n').count();
            read_document(input.trim_ascii(), line, &mut on_event, &mut on_error);
        }
    }
    shape
}

/// Reads one JSON document that is either an `Event` or an `EventList`.
fn read_document<'a>(
    doc: &'a [u8],
    line: usize,
    on_event: &mut impl FnMut(LogEvent<'a>),
    on_error: &mut impl FnMut(LogError),
) {
    let is_list = doc.len() > 2
        && doc[..doc.len().min(256)]
            .windows(11)
            .any(|w| w == b"\"EventList\"");
    if !is_list {
        let location = EventLocation { line, item: None };
        match decode_event(doc) {
            Ok(event) => on_event(LogEvent {
                location,
                raw: doc,
                event,
            }),
            Err(source) => on_error(LogError { location, source }),
        }
        return;
    }
    // Decode the list once for its type meta, and once more as raw items so
    // each event keeps its exact bytes.
    #[derive(serde::Deserialize)]
    struct RawList<'b> {
        #[serde(borrow, default)]
        items: Vec<&'b RawValue>,
    }
    if let Err(source) = decode_event_list_meta(doc) {
        on_error(LogError {
            location: EventLocation { line, item: None },
            source,
        });
        return;
    }
    let raw_items = match serde_json::from_slice::<RawList<'a>>(doc) {
        Ok(list) => list.items,
        Err(source) => {
            on_error(LogError {
                location: EventLocation { line, item: None },
                source: DecodeError::from_json(source),
            });
            return;
        }
    };
    for (item, raw) in raw_items.into_iter().enumerate() {
        let location = EventLocation {
            line,
            item: Some(item),
        };
        let raw = raw.get().as_bytes();
        match decode_event(raw) {
            Ok(event) => on_event(LogEvent {
                location,
                raw,
                event,
            }),
            Err(source) => on_error(LogError { location, source }),
        }
    }
}

/// Checks a list's `kind`/`apiVersion` without decoding its items.
fn decode_event_list_meta(doc: &[u8]) -> Result<(), DecodeError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        kind: String,
        api_version: String,
        #[serde(default)]
        #[allow(dead_code)]
        items: serde::de::IgnoredAny,
    }
    let meta: Meta = serde_json::from_slice(doc).map_err(DecodeError::from_json)?;
    let header = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"items\":[]}}",
        serde_json::Value::from(meta.kind),
        serde_json::Value::from(meta.api_version)
    );
    decode_event_list(header.as_bytes()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"alice"}}"#;
    const ITEM: &str = r#"{"level":"Metadata","auditID":"a2","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"bob"}}"#;

    fn collect(input: &str) -> (LogShape, Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        let shape = read_log(
            input.as_bytes(),
            |e| ids.push(format!("{}@{}", e.event.audit_id, e.location)),
            |e| errors.push(e.to_string()),
        );
        (shape, ids, errors)
    }

    #[test]
    fn json_lines_with_a_bad_line_keep_going() {
        let input = format!("{EVENT}\nnot json\n\n{}\n", EVENT.replace("a1", "a3"));
        let (shape, ids, errors) = collect(&input);
        assert_eq!(shape, LogShape::JsonLines);
        assert_eq!(ids, ["a1@line 1", "a3@line 4"]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("line 2:"), "{}", errors[0]);
    }

    #[test]
    fn event_list_document_pretty_or_not() {
        let list = format!(
            "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{{}},\"items\":[{ITEM},{ITEM}]}}"
        );
        let (shape, ids, errors) = collect(&list);
        assert_eq!(shape, LogShape::EventList);
        assert_eq!(ids, ["a2@line 1, item 0", "a2@line 1, item 1"]);
        assert!(errors.is_empty());

        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&list).unwrap(),
        )
        .unwrap();
        let (shape, ids, _) = collect(&pretty);
        assert_eq!(shape, LogShape::EventList);
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn raw_bytes_are_the_items_exactly() {
        let list = format!(
            "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{ITEM}]}}"
        );
        let mut raws = Vec::new();
        read_log(list.as_bytes(), |e| raws.push(e.raw.to_vec()), |_| {});
        assert_eq!(raws, [ITEM.as_bytes().to_vec()]);
    }

    #[test]
    fn wrong_list_version_is_an_error() {
        let list = format!(
            "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1beta1\",\"items\":[{ITEM}]}}"
        );
        let (_, ids, errors) = collect(&list);
        assert!(ids.is_empty());
        assert!(errors[0].contains("v1beta1"), "{}", errors[0]);
    }
}
