//! The tantivy schema of a day index, built from the field catalogue.
//!
//! Keyword fields are indexed whole (the `raw` tokenizer, no positions) and,
//! when aggregatable, get a column; numbers are indexed and have a column
//! (exact values, ranges); `seq` (the record's journal index) and `time` are
//! columns only: nearly every record has its own value of each, so terms
//! would cost a term and a posting list per record, while ranges (time
//! ranges, deletes by journal index) and sorting run on the columns; `_all` holds every keyword value
//! (bare terms), `_fields` the names of the fields a record has
//! (`field:*`); `envelope` and `raw` are stored, so a page of hits needs no
//! journal frame decompressed.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, STORED,
};

use crate::catalogue::{FieldKind, FieldSpec, Source, FIELDS};

/// The schema's field names and handles.
#[derive(Debug, Clone)]
pub struct IndexSchema {
    /// The tantivy schema.
    pub schema: Schema,
    /// The journal index of the record.
    pub seq: Field,
    /// The record's time (microseconds since the epoch).
    pub time: Field,
    /// Every keyword value, for bare terms.
    pub all: Field,
    /// The names of the fields present, for `field:*`.
    pub fields: Field,
    /// The stored envelope JSON.
    pub envelope: Field,
    /// The stored raw bytes.
    pub raw: Field,
    /// One handle per catalogue entry (`None` for `stream` and `time`, which
    /// are not terms of a day index: its stream is fixed, `time` is above).
    pub catalogue: Vec<Option<Field>>,
}

/// The tantivy name of a catalogue field (`user.username` → `user_username`):
/// dots mean JSON paths to tantivy's columns.
pub fn tantivy_name(spec: &FieldSpec) -> String {
    spec.name.replace('.', "_")
}

fn keyword_options(fast: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let options = TextOptions::default().set_indexing_options(indexing);
    if fast {
        options.set_fast("raw")
    } else {
        options
    }
}

impl IndexSchema {
    /// The schema every day index has.
    pub fn build() -> IndexSchema {
        let mut builder = Schema::builder();
        let numeric = NumericOptions::default().set_indexed().set_fast();
        let column_only = NumericOptions::default().set_fast();
        let seq = builder.add_u64_field("seq", column_only.clone());
        let time = builder.add_i64_field("time", column_only);
        let all = builder.add_text_field("_all", keyword_options(false));
        let fields = builder.add_text_field("_fields", keyword_options(false));
        let envelope = builder.add_bytes_field("envelope", STORED);
        let raw = builder.add_bytes_field("raw", STORED);
        let mut catalogue = Vec::with_capacity(FIELDS.len());
        for spec in FIELDS {
            let handle = match (spec.kind, spec.source) {
                (_, Source::Stream) | (FieldKind::Date, _) => None,
                (FieldKind::Number, _) => {
                    Some(builder.add_i64_field(&tantivy_name(spec), numeric.clone()))
                }
                (FieldKind::Keyword, _) => Some(
                    builder.add_text_field(&tantivy_name(spec), keyword_options(spec.aggregatable)),
                ),
            };
            catalogue.push(handle);
        }
        IndexSchema {
            schema: builder.build(),
            seq,
            time,
            all,
            fields,
            envelope,
            raw,
            catalogue,
        }
    }

    /// The handles of an index opened from disk, checked against this build's schema.
    pub fn matches(&self, other: &Schema) -> bool {
        let mine: Vec<_> = self.schema.fields().map(|(_, e)| e.clone()).collect();
        let theirs: Vec<_> = other.fields().map(|(_, e)| e.clone()).collect();
        mine == theirs
    }

    /// The handle of catalogue field `position`, if the index has terms for it.
    pub fn handle(&self, position: usize) -> Option<Field> {
        self.catalogue.get(position).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_and_time_are_columns_without_terms() {
        let schema = IndexSchema::build();
        for field in [schema.seq, schema.time] {
            let entry = schema.schema.get_field_entry(field);
            assert!(entry.is_fast(), "{}", entry.name());
            assert!(!entry.is_indexed(), "{}", entry.name());
        }
        let code = FIELDS
            .iter()
            .position(|f| f.name == "responseStatus.code")
            .and_then(|p| schema.handle(p));
        let code = schema.schema.get_field_entry(code.unwrap_or(schema.seq));
        assert!(code.is_indexed() && code.is_fast(), "{}", code.name());
    }
}
