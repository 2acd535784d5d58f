//! One open day index for writing, and opening/creating day indexes.

use std::path::Path;

use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexSettings, IndexWriter, TantivyDocument};

use crate::config::IndexConfig;
use crate::error::IndexError;
use crate::schema::IndexSchema;

/// The doc store settings: zstd, as the journal, in blocks small enough to
/// fetch one hit quickly.
fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(9),
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
    pub(crate) writer: IndexWriter<TantivyDocument>,
    pub(crate) dirty: bool,
    pub(crate) last_used: u64,
}

impl std::fmt::Debug for DayWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayWriter")
            .field("dirty", &self.dirty)
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
            dirty: false,
            last_used: 0,
        })
    }

    /// Commits with `payload` (the stream's next journal index).
    pub(crate) fn commit(&mut self, path: &Path, payload: &str) -> Result<(), IndexError> {
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
