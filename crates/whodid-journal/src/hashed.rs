//! Records whose Merkle leaf hash is already computed.
//!
//! Hashing is the one per-record cost of an append that does not need the
//! writer thread. An appender that serialises its appends (the Kubernetes
//! store decides the order under a lock) hashes before it takes its lock,
//! and on several threads when it has many records, then appends the
//! hashed records. The hash can only be made from the record itself
//! ([`HashedRecord::new`]), so the tree still covers exactly what is
//! written.

use crate::format::{record_leaf_hash, RecordInput};
use crate::merkle::Hash;

/// Records per thread below which hashing on more threads is not worth it.
const PARALLEL_MIN_RECORDS: usize = 512;

/// A record and its leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedRecord {
    record: RecordInput,
    leaf: Hash,
}

impl HashedRecord {
    /// Hashes `record`.
    pub fn new(record: RecordInput) -> HashedRecord {
        let leaf = record_leaf_hash(&record.envelope, &record.raw);
        HashedRecord { record, leaf }
    }

    /// Hashes `records` on up to `threads` threads (the caller's among
    /// them), in order.
    pub fn hash_all(records: Vec<RecordInput>, threads: usize) -> Vec<HashedRecord> {
        let parts = threads.clamp(1, records.len().div_ceil(PARALLEL_MIN_RECORDS).max(1));
        if parts == 1 {
            return records.into_iter().map(HashedRecord::new).collect();
        }
        let leaves: Vec<Hash> = {
            let chunk = records.len().div_ceil(parts);
            let hash = |part: &[RecordInput]| -> Vec<Hash> {
                part.iter()
                    .map(|r| record_leaf_hash(&r.envelope, &r.raw))
                    .collect()
            };
            let mut chunks = records.chunks(chunk);
            let first = chunks.next().unwrap_or_default();
            std::thread::scope(|scope| {
                let others: Vec<_> = chunks.map(|part| scope.spawn(move || hash(part))).collect();
                let mut leaves = hash(first);
                for handle in others {
                    match handle.join() {
                        Ok(part) => leaves.extend(part),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                leaves
            })
        };
        records
            .into_iter()
            .zip(leaves)
            .map(|(record, leaf)| HashedRecord { record, leaf })
            .collect()
    }

    /// The record.
    pub fn record(&self) -> &RecordInput {
        &self.record
    }

    /// The leaf hash.
    pub fn leaf(&self) -> Hash {
        self.leaf
    }

    pub(crate) fn into_parts(self) -> (RecordInput, Hash) {
        (self.record, self.leaf)
    }
}
