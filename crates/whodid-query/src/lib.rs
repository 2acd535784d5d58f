//! Search: the query language, its planner to tantivy queries, the
//! brute-force evaluator that checks it, per-person timelines,
//! aggregations, time budgets, and the HTTP API.
//!
//! [`parser::parse`] turns OpenSearch-Dashboards-style text into an
//! [`ast::Expr`] (errors name the column); [`plan`] makes a tantivy query
//! per day index; [`eval`] answers the same question record by record from
//! the journal (the equivalence test holds them to the same answers);
//! [`service::SearchService`] runs searches, timelines ([`SearchService::who`])
//! and aggregations within a time budget; [`http::router`] serves them.
#![warn(missing_docs)]

pub mod ast;
pub mod collect;
pub mod cost;
mod error;
pub mod eval;
pub mod hit;
pub mod http;
mod lexer;
pub mod parser;
pub mod plan;
pub mod range;
pub mod service;

pub use error::{QueryError, SearchError};
pub use range::TimeRange;
pub use service::{
    AggregateKind, AggregateRequest, Aggregation, Bucket, Page, SearchRequest, SearchService,
    ServiceConfig, StreamStatus, UnreadableRecords,
};
