//! One open day index for writing, and opening/creating day indexes.
//!
//! A day writer holds back a batch of documents and hands it to tantivy
//! ordered by record shape ([`crate::document::GROUP_BY`]): tantivy's doc
//! store compresses blocks of neighbouring documents, and alike neighbours
//! make those blocks much smaller. Searches never depend on document order
//! (hits are sorted by time, stream and journal index from the columns).
//!
//! The documents go one operation each, not the batch as one operation:
//! tantivy's queue to its indexing threads holds at most 10,000 operations,
//! so one document each bounds what waits there (10,000 documents, about
//! 40 MB of records) and a follower that gets ahead of indexing waits for
//! it; with a batch of 8,192 as one operation, everything the follower read
//! between two commits could queue there. Each indexing thread takes
//! documents in the order given, so every segment still has them ordered
//! by shape.

use std::path::Path;

use tantivy::query::Query;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings, IndexWriter, TantivyDocument};

use crate::config::IndexConfig;
use crate::error::IndexError;
use crate::schema::IndexSchema;

/// The doc store settings: zstd, as the journal, in blocks small enough to
/// fetch one hit quickly (a page of 100 hits decompresses up to 100 blocks).
/// Level 3: with alike records side by side, level 9 made the store only
/// about 8% smaller for six times the compression time (a quarter of a
/// reindex's CPU time at level 9).
fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(3),
        }),
        docstore_blocksize: 64 * 1024,
        ..IndexSettings::default()
    }
}

/// Opens a day index read-only, checking that its schema is this build's.
pub(crate) fn open_existing(path: &Path, schema: &IndexSchema) -> Result<Index, IndexError> {
    let index = Index::open_in_dir(path).map_err(IndexError::tantivy(path))?;
    if !schema.matches(&index.schema()) {
        return Err(IndexError::Tantivy {
            path: path.to_owned(),
            source: tantivy::TantivyError::SchemaError(
                "the schema differs from this build's".to_owned(),
            ),
        });
    }
    Ok(index)
}

/// A day index open for writing.
pub(crate) struct DayWriter {
    _index: Index,
    writer: IndexWriter<TantivyDocument>,
    /// Documents not yet handed to tantivy, with their shape.
    batch: Vec<(String, TantivyDocument)>,
    /// The batch is handed over at this size (and before a commit or a delete).
    batch_limit: usize,
    pub(crate) dirty: bool,
    pub(crate) last_used: u64,
}

impl std::fmt::Debug for DayWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayWriter")
            .field("dirty", &self.dirty)
            .field("batch", &self.batch.len())
            .field("last_used", &self.last_used)
            .finish_non_exhaustive()
    }
}

impl DayWriter {
    /// Opens (or creates) the day index at `path` for writing.
    pub(crate) fn open(
        path: &Path,
        schema: &IndexSchema,
        config: &IndexConfig,
    ) -> Result<DayWriter, IndexError> {
        let meta = path.join("meta.json");
        let index = if meta.try_exists().map_err(IndexError::io(&meta))? {
            open_existing(path, schema)?
        } else {
            std::fs::create_dir_all(path).map_err(IndexError::io(path))?;
            Index::builder()
                .schema(schema.schema.clone())
                .settings(settings())
                .create_in_dir(path)
                .map_err(IndexError::tantivy(path))?
        };
        let threads = config.writer_threads.max(1);
        let memory = config.writer_memory_bytes.max((threads * 16) << 20);
        let writer = index
            .writer_with_num_threads(threads, memory)
            .map_err(IndexError::tantivy(path))?;
        Ok(DayWriter {
            _index: index,
            writer,
            batch: Vec::new(),
            batch_limit: config.group_records.max(1),
            dirty: false,
            last_used: 0,
        })
    }

    /// Adds a document of shape `group` (handed to tantivy with its batch).
    pub(crate) fn add(
        &mut self,
        path: &Path,
        group: String,
        document: TantivyDocument,
    ) -> Result<(), IndexError> {
        self.batch.push((group, document));
        self.dirty = true;
        if self.batch.len() >= self.batch_limit {
            self.flush(path)?;
        }
        Ok(())
    }

    /// Hands the batch to tantivy, alike records together (a stable sort:
    /// journal order within a shape).
    fn flush(&mut self, path: &Path) -> Result<(), IndexError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, doc) in self.batch.drain(..) {
            self.writer
                .add_document(doc)
                .map_err(IndexError::tantivy(path))?;
        }
        Ok(())
    }

    /// Deletes the documents `query` matches, after every document added before.
    pub(crate) fn delete(&mut self, path: &Path, query: Box<dyn Query>) -> Result<(), IndexError> {
        self.flush(path)?;
        self.writer
            .delete_query(query)
            .map_err(IndexError::tantivy(path))?;
        self.dirty = true;
        Ok(())
    }

    /// Commits with `payload` (the stream's next journal index).
    pub(crate) fn commit(&mut self, path: &Path, payload: &str) -> Result<(), IndexError> {
        self.flush(path)?;
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(IndexError::tantivy(path))?;
        prepared.set_payload(payload);
        prepared.commit().map_err(IndexError::tantivy(path))?;
        self.dirty = false;
        Ok(())
    }

    /// Commits and waits for merges to finish.
    pub(crate) fn close(mut self, path: &Path, payload: &str) -> Result<(), IndexError> {
        if self.dirty {
            self.commit(path, payload)?;
        }
        self.writer
            .wait_merging_threads()
            .map_err(IndexError::tantivy(path))
    }
}
