//! A journal record to a tantivy document: every catalogue field's values,
//! found by JSON path in the envelope or (for `kubeaudit`) the raw event;
//! and the record's shape ([`Prepared::group`]), by which a day writer
//! orders a batch of documents so that alike records share doc-store blocks.

use serde_json::Value;
use tantivy::TantivyDocument;
use whodid_model::Stream;

use crate::catalogue::{FieldKind, Source, ANNOTATIONS, FIELDS};
use crate::error::IndexError;
use crate::pruned::{read_wanted, KUBE_WANTED};
use crate::schema::IndexSchema;

/// Separates an annotation's key from its value in the `annotations` terms.
pub const ANNOTATION_SEPARATOR: char = '\u{1f}';

/// The fields whose values make a record's shape, most telling first: the
/// same client doing the same kind of request writes nearly the same event
/// (a controller's `list` of `pods`, a person's `kubectl get`), so records
/// of one shape stored side by side compress several times better than
/// records in arrival order.
pub const GROUP_BY: &[&str] = &[
    "userAgent",
    "verb",
    "objectRef.resource",
    "objectRef.subresource",
    "level",
    "stage",
    "responseStatus.code",
    "action",
    "actor.kind",
    "outcome",
];

/// Past this many stored bytes a document's buffer grows as it goes
/// instead of being sized up front (no large reservation for a huge event).
const DOCUMENT_CAPACITY_LIMIT: usize = 64 << 10;

/// A record ready to index.
#[derive(Debug)]
pub struct Prepared {
    /// The record's time, microseconds since the epoch.
    pub time_micros: i64,
    /// Its shape: the values of [`GROUP_BY`], separated by
    /// [`ANNOTATION_SEPARATOR`] (an order for storage only, never a
    /// search key).
    pub group: String,
    /// The document.
    pub document: TantivyDocument,
}

/// The value at a dot-separated path.
fn at_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |value, key| value.get(key))
}

/// The keyword values of a JSON value: strings (and scalars as text), each
/// element of an array; empty strings are no value.
fn keyword_values(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => {
            for item in items {
                if !item.is_array() {
                    keyword_values(item, out);
                }
            }
        }
        _ => {}
    }
}

/// The envelope's time in microseconds.
pub fn envelope_time(envelope: &Value) -> Option<i64> {
    let text = envelope.get("time")?.as_str()?;
    let stamp: jiff::Timestamp = text.parse().ok()?;
    Some(stamp.as_microsecond())
}

/// Builds the document of record `seq` of `stream`.
pub fn prepare(
    schema: &IndexSchema,
    stream: Stream,
    seq: u64,
    envelope_bytes: &[u8],
    raw_bytes: &[u8],
) -> Result<Prepared, IndexError> {
    let bad = |what: String| IndexError::BadRecord {
        stream: stream.to_string(),
        index: seq,
        what,
    };
    let envelope: Value =
        serde_json::from_slice(envelope_bytes).map_err(|e| bad(format!("envelope: {e}")))?;
    let time_micros = envelope_time(&envelope).ok_or_else(|| bad("envelope time".into()))?;
    // A raw event that is not JSON is still indexed by its envelope. Only
    // the parts on the catalogue's paths are read (bodies are skipped).
    let raw: Option<Value> = match stream {
        Stream::KubeAudit => read_wanted(raw_bytes, &KUBE_WANTED).ok(),
        _ => None,
    };
    // Sized once for the stored bytes and about as many again of terms:
    // a document grown value by value is copied on every doubling.
    let mut doc = TantivyDocument::with_capacity(
        2 * (envelope_bytes.len() + raw_bytes.len()).min(DOCUMENT_CAPACITY_LIMIT) + 256,
    );
    doc.add_u64(schema.seq, seq);
    doc.add_i64(schema.time, time_micros);
    let mut values = Vec::new();
    let mut shape = vec![String::new(); GROUP_BY.len()];
    for (position, spec) in FIELDS.iter().enumerate() {
        let root = match spec.source {
            Source::Stream => {
                doc.add_text(schema.all, stream.as_str());
                continue;
            }
            Source::Envelope(path) => at_path(&envelope, path),
            Source::Kube(path) => raw.as_ref().and_then(|r| at_path(r, path)),
            Source::KubeAnnotations => {
                add_annotations(schema, raw.as_ref(), position, &mut doc);
                continue;
            }
        };
        let (Some(root), Some(field)) = (root, schema.handle(position)) else {
            continue;
        };
        if let Some(slot) = GROUP_BY.iter().position(|name| *name == spec.name) {
            match root {
                Value::String(text) => shape[slot].clone_from(text),
                Value::Number(n) => shape[slot] = n.to_string(),
                _ => {}
            }
        }
        match spec.kind {
            FieldKind::Number => {
                if let Some(n) = root.as_i64() {
                    doc.add_i64(field, n);
                    doc.add_text(schema.fields, spec.name);
                }
            }
            FieldKind::Keyword => {
                values.clear();
                keyword_values(root, &mut values);
                if !values.is_empty() {
                    doc.add_text(schema.fields, spec.name);
                }
                for value in &values {
                    doc.add_text(field, value);
                    if spec.bare {
                        doc.add_text(schema.all, value);
                    }
                }
            }
            FieldKind::Date => {}
        }
    }
    let group = shape.join(ANNOTATION_SEPARATOR.encode_utf8(&mut [0; 4]));
    doc.add_bytes(schema.envelope, envelope_bytes);
    doc.add_bytes(schema.raw, raw_bytes);
    Ok(Prepared {
        time_micros,
        group,
        document: doc,
    })
}

fn add_annotations(
    schema: &IndexSchema,
    raw: Option<&Value>,
    position: usize,
    doc: &mut TantivyDocument,
) {
    let (Some(Value::Object(map)), Some(field)) = (
        raw.and_then(|r| r.get(ANNOTATIONS)),
        schema.handle(position),
    ) else {
        return;
    };
    let mut values = Vec::new();
    for (key, value) in map {
        values.clear();
        keyword_values(value, &mut values);
        if values.is_empty() {
            continue;
        }
        doc.add_text(schema.fields, format!("{ANNOTATIONS}.{key}"));
        for value in &values {
            doc.add_text(field, format!("{key}{ANNOTATION_SEPARATOR}{value}"));
            doc.add_text(schema.all, value);
        }
    }
}
