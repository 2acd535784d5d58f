//! A rotation-aware file tailer with resumable positions, shared by all of
//! whodid's file sources (kube-apiserver audit log, auth.log, PostgreSQL
//! logs).
//!
//! It exists because those files are rotated under the reader — renamed
//! (lumberjack's `audit-2026-11-22T18-29-44.518.log`, logrotate's
//! `auth.log.1`, `auth.log-20261122`), compressed to `.gz`, truncated in
//! place (copytruncate), deleted by count or age — and audit data must be
//! read exactly once across all of that and across restarts of whodid, with
//! every loss reported instead of silently skipped.
//!
//! # Use
//!
//! ```no_run
//! use whodid_tail::{TailEvent, TailSpec, Tailer};
//! let spec = TailSpec::new("/var/log/kube-apiserver/audit.log").with_max_line_bytes(64 << 20);
//! let mut tailer = Tailer::new(spec, None /* or the persisted position */);
//! let mut events = Vec::new();
//! loop {
//!     events.clear();
//!     match tailer.poll(4 << 20, &mut events) {
//!         Ok(outcome) => {
//!             for event in &events { /* parse, journal */ }
//!             // once durable: persist tailer.position()
//!             if outcome.caught_up { std::thread::sleep(std::time::Duration::from_millis(200)) }
//!         }
//!         Err(e) => { tracing::warn!(error = %e, "tail"); std::thread::sleep(std::time::Duration::from_secs(1)) }
//!     }
//! }
//! ```
//!
//! # Promises
//!
//! - **Order and exactly once.** Lines come oldest file first (backups in
//!   rotation order, then the active file), each once. Given the position
//!   after the last durable line, a new tailer continues with exactly the
//!   next line — also when the file was rotated, compressed, or several
//!   times rotated in between.
//! - **Losses are events.** A [`TailEvent::Gap`] is reported when the
//!   resume position's file is gone, a seen backup is deleted before it
//!   could be opened, a file is truncated with unread bytes and no copy, or
//!   gzip data is corrupt. Backups seen once are held open, so their deletion
//!   loses nothing. Not detectable: a backup created *and* deleted between
//!   two looks at the directory (while the tailer ran: more rotations than
//!   `maxbackup` between two polls); bytes written between copytruncate's
//!   copy and its truncation.
//! - **Partial lines.** An unterminated last line is held back while the
//!   file may grow, and handed out once it was rotated away.
//! - **Bounded memory.** At most about `max_line_bytes` + 256 KiB per
//!   tailer for line data; a longer line is streamed past and reported as
//!   [`TailEvent::LineTooLong`].
//! - **Never poisoned.** Errors ([`TailError`]) name the path; the next poll
//!   tries again.
//!
//! # How files are recognised
//!
//! By (device, inode) while open, and by the SHA-256 of their first 4 KiB
//! (`Fingerprint`) otherwise, so a `.gz` backup or a copytruncate copy is
//! known to be the file a position was in, and a reused inode is not.
//! Deletion is assumed to go oldest first (lumberjack, logrotate): when a
//! resume position's file is gone, every file still there is newer.

mod error;
mod event;
mod identity;
mod listing;
mod naming;
mod position;
mod source;
mod spec;
mod tailer;

pub use error::TailError;
pub use event::{GapReason, PollOutcome, TailEvent};
pub use position::{Fingerprint, TailPosition, FINGERPRINT_MAX, POSITION_VERSION};
pub use spec::{RotationNaming, StartAt, TailSpec, DEFAULT_MAX_LINE_BYTES};
pub use tailer::Tailer;
