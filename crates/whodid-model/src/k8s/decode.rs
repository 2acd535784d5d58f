//! Decoding events from the apiserver's two wire shapes, with the errors that
//! say what was wrong: a log-backend JSON line holds one `Event`; a webhook
//! body holds one `EventList`.

use super::event::{Event, EventList};

/// The only API version whodid accepts for audit objects.
pub const API_VERSION: &str = "audit.k8s.io/v1";

/// Why an audit object could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is not valid JSON or lacks required fields.
    #[error("invalid audit JSON at line {line}, column {column}: {source}")]
    Json {
        /// 1-based line inside the decoded text.
        line: usize,
        /// 1-based column inside the decoded text.
        column: usize,
        /// The underlying parser error.
        #[source]
        source: serde_json::Error,
    },
    /// `apiVersion` is set but is not `audit.k8s.io/v1`.
    #[error("wrong apiVersion {found:?}: expected \"audit.k8s.io/v1\"")]
    WrongApiVersion {
        /// The apiVersion found.
        found: String,
    },
    /// `kind` is set but is not the expected kind.
    #[error("wrong kind {found:?}: expected {expected:?}")]
    WrongKind {
        /// The kind found.
        found: String,
        /// The kind expected.
        expected: &'static str,
    },
}

impl DecodeError {
    /// Wraps a JSON parser error with its position.
    pub fn from_json(source: serde_json::Error) -> Self {
        DecodeError::Json {
            line: source.line(),
            column: source.column(),
            source,
        }
    }
}

fn check_type_meta(
    kind: Option<&str>,
    api_version: Option<&str>,
    expected_kind: &'static str,
) -> Result<(), DecodeError> {
    if let Some(found) = api_version {
        if found != API_VERSION {
            return Err(DecodeError::WrongApiVersion {
                found: found.to_owned(),
            });
        }
    }
    if let Some(found) = kind {
        if found != expected_kind {
            return Err(DecodeError::WrongKind {
                found: found.to_owned(),
                expected: expected_kind,
            });
        }
    }
    Ok(())
}

/// Decodes one `Event` (a log-backend line, or an item of a list).
///
/// `kind` and `apiVersion` may be absent (webhook items) but, when present,
/// must be `Event` and `audit.k8s.io/v1`.
pub fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    let event: Event = crate::json::from_bytes(bytes).map_err(DecodeError::from_json)?;
    check_type_meta(event.kind.as_deref(), event.api_version.as_deref(), "Event")?;
    Ok(event)
}

/// Decodes one `EventList` (a webhook body). Both `kind` and `apiVersion`
/// must be present and right.
pub fn decode_event_list(bytes: &[u8]) -> Result<EventList, DecodeError> {
    let list: EventList = serde_json::from_slice(bytes).map_err(DecodeError::from_json)?;
    check_type_meta(Some(&list.kind), Some(&list.api_version), "EventList")?;
    for item in &list.items {
        check_type_meta(item.kind.as_deref(), item.api_version.as_deref(), "Event")?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"alice"},"futureField":{"x":1}}"#;

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let event = decode_event(LINE.as_bytes()).unwrap();
        assert_eq!(event.extra["futureField"]["x"], 1);
        let again: serde_json::Value = serde_json::to_value(&event).unwrap();
        let original: serde_json::Value = serde_json::from_str(LINE).unwrap();
        assert_eq!(again, original);
    }

    #[test]
    fn wrong_api_version_is_named() {
        let line = LINE.replace("audit.k8s.io/v1", "audit.k8s.io/v1beta1");
        let err = decode_event(line.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("audit.k8s.io/v1beta1"), "{err}");
    }

    #[test]
    fn wrong_kind_is_named() {
        let line = LINE.replace("\"kind\":\"Event\"", "\"kind\":\"Pod\"");
        let err = decode_event(line.as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::WrongKind { .. }), "{err}");
    }

    #[test]
    fn truncated_line_reports_position() {
        let err = decode_event(&LINE.as_bytes()[..40]).unwrap_err();
        assert!(matches!(err, DecodeError::Json { line: 1, .. }), "{err}");
    }
}
