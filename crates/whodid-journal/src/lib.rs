//! The tamper-evident journal: the source of truth for every stream.
//!
//! Records (the original bytes plus their envelope) are appended to
//! per-stream segments, zstd-compressed, with group commit and a chosen
//! fsync policy; every record is a leaf of an RFC 6962 Merkle tree, and
//! signed checkpoints commit to the tree, so any change, deletion,
//! reordering or truncation is detected by [`verify`] and proven with
//! [`proof`]s that need only the public key. Retention removes whole
//! segments and signs a record of it. The format is in `docs/journal.md`.
//!
//! Layout: [`journal`] (open/append/close), [`writer`] (group commit),
//! [`stream_log`] (one stream, recovery), [`segment`] and [`format`] (bytes
//! on disk), [`merkle`], [`proof`], [`checkpoint`], [`keys`], [`retention`],
//! [`reader`] (records and proofs), `recovery` (what open cuts, keeps and
//! records), [`damage`] (signed damage records and acknowledgements), `leaves` (leaf sidecars for proofs),
//! `compaction` (sealed segments rewritten into large frames), `sync_stats`
//! (fsync figures), [`verify`],
//! [`datadir`].
//!
//! **Invariant:** nothing is acknowledged before the fsync that covers it
//! (under `FsyncPolicy::EveryBatch` or `Interval`).
#![warn(missing_docs)]

pub mod checked_proof;
pub mod checkpoint;
mod compaction;
pub mod damage;
pub mod datadir;
mod error;
pub mod format;
mod hashed;
pub mod journal;
pub mod keys;
mod leaves;
pub mod merkle;
pub mod proof;
pub mod proof_json;
pub mod reader;
mod record_iter;
mod recovery;
pub mod retention;
pub mod segment;
mod stream_log;
mod sync_stats;
pub mod verify;
pub mod writer;

pub use error::JournalError;
pub use format::RecordInput;
pub use hashed::HashedRecord;
pub use journal::{Journal, JournalConfig};
pub use sync_stats::SyncStats;
pub use writer::{AppendReceipt, FsyncPolicy, Ticket};
