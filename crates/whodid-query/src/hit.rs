//! A search result as it leaves whodid: envelope, raw event, and for
//! timelines how the person was involved.

use serde::Serialize;
use serde_json::Value;
use whodid_model::Stream;

use crate::collect::SortKey;
use crate::error::SearchError;

/// One matching record.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Its stream.
    pub stream: String,
    /// Its journal index within the stream (for `whodid prove inclusion`).
    pub seq: u64,
    /// Its time (RFC 3339).
    pub time: String,
    /// In a timeline: how the person was involved, when not simply as the actor
    /// (`impersonating alice@example.com`, `as account ubuntu`, `impersonated by bob@example.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
    /// The envelope.
    pub envelope: Value,
    /// The event as received: JSON for `kubeaudit`, text otherwise.
    pub raw: Value,
}

impl Hit {
    /// A string field of the envelope (`actor.name`, `action`, …), empty when absent.
    pub fn envelope_str(&self, path: &str) -> &str {
        path.split('.')
            .try_fold(&self.envelope, |v, k| v.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Encodes a sort key as a cursor: `TIME_STREAM_SEQ`.
pub fn encode_cursor(key: SortKey) -> String {
    let stream = Stream::ALL
        .get(usize::from(key.1 .0))
        .map_or("unknown", |s| s.as_str());
    format!("{}_{}_{}", key.0, stream, key.2)
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(text: &str) -> Result<SortKey, SearchError> {
    let bad = || {
        SearchError::parameter(
            "cursor",
            format!("{text:?} is not a cursor from a previous page (TIME_STREAM_SEQ)"),
        )
    };
    let mut parts = text.splitn(3, '_');
    let time: i64 = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
    let stream: Stream = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let seq: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok((time, std::cmp::Reverse(stream_rank(stream)), seq))
}

/// The rank of a stream in sort keys.
pub fn stream_rank(stream: Stream) -> u8 {
    Stream::ALL.iter().position(|s| *s == stream).unwrap_or(0) as u8
}

/// How `person` took part in a record, for the timeline's marks.
pub fn involvement(stream: Stream, envelope: &Value, person: &str) -> Option<String> {
    let actor = envelope
        .pointer("/actor/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let via = envelope
        .pointer("/actor/via")
        .and_then(Value::as_str)
        .unwrap_or("");
    if via.is_empty() {
        return None;
    }
    let kube = stream == Stream::KubeAudit;
    if actor == person {
        Some(if kube {
            format!("impersonating {via}")
        } else {
            format!("as account {via}")
        })
    } else if via == person {
        Some(if kube {
            format!("impersonated by {actor}")
        } else {
            format!("account used by {actor}")
        })
    } else {
        None
    }
}

/// The columns of CSV and table output.
pub const COLUMNS: [&str; 11] = [
    "time",
    "stream",
    "seq",
    "actor",
    "via",
    "action",
    "target",
    "namespace",
    "outcome",
    "source",
    "mark",
];

/// A hit's cells in [`COLUMNS`] order.
pub fn cells(hit: &Hit) -> [String; 11] {
    [
        hit.time.clone(),
        hit.stream.clone(),
        hit.seq.to_string(),
        hit.envelope_str("actor.name").to_owned(),
        hit.envelope_str("actor.via").to_owned(),
        hit.envelope_str("action").to_owned(),
        hit.envelope_str("target").to_owned(),
        hit.envelope_str("namespace").to_owned(),
        hit.envelope_str("outcome").to_owned(),
        hit.envelope_str("source").to_owned(),
        hit.mark.clone().unwrap_or_default(),
    ]
}

/// One CSV line (RFC 4180 quoting), with its line break.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let cell = cell.as_ref();
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let key = (1_795_000_000_000_000, std::cmp::Reverse(1), 42);
        assert_eq!(decode_cursor(&encode_cursor(key)).unwrap(), key);
        assert!(decode_cursor("x_kubeaudit_1").is_err());
        assert!(decode_cursor("1_nostream_1").is_err());
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_line(&["a", "b,c", "d\"e"]), "a,\"b,c\",\"d\"\"e\"\r\n");
    }
}
