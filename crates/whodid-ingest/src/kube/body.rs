//! The two wire shapes of Kubernetes audit events, split into the exact
//! bytes of each event: a webhook body (`EventList`) and a log-backend line
//! (one `Event`).
//!
//! Nothing is decoded beyond what is needed to find the items: each item is
//! kept as the sender wrote it, since the journal stores events exactly as
//! received.

use serde::Deserialize;
use serde_json::value::RawValue;
use whodid_model::json::from_bytes;
use whodid_model::k8s::API_VERSION;

/// Why a webhook body is not an `audit.k8s.io/v1` `EventList`.
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListShape<'a> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

/// The items of a webhook body, each as the exact bytes received.
/// (UTF-8 checked once: `whodid_model::json::from_bytes`.)
pub fn split_event_list(body: &[u8]) -> Result<Vec<&[u8]>, BodyError> {
    let list: ListShape<'_> = from_bytes(body).map_err(|e| BodyError::Json {
        message: strip_position(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let api_version = list.api_version.unwrap_or_default();
    if api_version != API_VERSION {
        return Err(BodyError::WrongApiVersion { found: api_version });
    }
    let kind = list.kind.unwrap_or_default();
    if kind != "EventList" {
        return Err(BodyError::WrongKind { found: kind });
    }
    Ok(list
        .items
        .into_iter()
        .map(|item| item.get().as_bytes())
        .collect())
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
}
