//! The search index: one tantivy index per stream and UTC day
//! (`kubeaudit-2026.11.22`), derived from the journal and rebuildable from
//! it at any time.
//!
//! The journal is the source of truth; the index is a cache that can be
//! thrown away. [`Indexer`] is the one writer (it holds `index/LOCK`):
//! it indexes journal records in order, commits the day indexes and then
//! the state ("records `[first, next)` of each stream are indexed"), follows
//! retention, and on open rebuilds any stream whose index is lost, corrupt or
//! does not add up. [`Follower`] runs it on a thread beside `whodid serve`
//! with bounded lag. [`IndexSet`] is the read side, usable beside a running
//! writer.
//!
//! Layout: [`catalogue`] (the searchable fields), [`schema`] (tantivy
//! schema), [`document`] (record → document), [`layout`] (paths, day
//! names), [`state`], [`lock`], [`indexer`], [`follower`], [`reader`].
#![warn(missing_docs)]

pub mod catalogue;
mod checked;
pub mod config;
mod day_writer;
pub mod document;
mod error;
pub mod follower;
pub mod indexer;
pub mod layout;
pub mod lock;
pub mod pruned;
pub mod reader;
pub mod schema;
pub mod state;

pub use config::IndexConfig;
pub use error::IndexError;
pub use follower::{Follower, FollowerHandle};
pub use indexer::{Indexer, Lag, Progress, Repair};
pub use layout::{Day, IndexLayout};
pub use reader::{DayIndex, IndexSet, Selection};
pub use state::{IndexState, StreamState, UnreadableRange};
pub use tantivy;
