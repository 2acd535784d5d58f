//! Query errors: what is wrong and at which column, so a person can fix it.

/// A query that cannot be run, with the 1-based column (in characters) it points at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    /// 1-based column, in characters, of the offending part of the query.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl QueryError {
    pub(crate) fn at(column: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            column,
            message: message.into(),
        }
    }

    /// The query with a caret under the column, for terminals.
    pub fn render(&self, query: &str) -> String {
        let pad: String = " ".repeat(self.column.saturating_sub(1));
        format!("{query}\n{pad}^ column {}: {}", self.column, self.message)
    }
}

/// Why a search, timeline or aggregation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The query text is wrong.
    #[error("query: {0}")]
    Query(#[from] QueryError),
    /// A request parameter is wrong (page size, time range, cursor, field).
    #[error("{parameter}: {message}")]
    Parameter {
        /// The parameter (`limit`, `from`, `cursor`, `field`, …).
        parameter: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The request would cost more than the service allows (a query too
    /// long or with too many terms, a wildcard the engine cannot bound):
    /// the caller's to narrow, not a failure of the service.
    #[error("{parameter}: too expensive: {message}")]
    TooExpensive {
        /// The parameter (`q` for the query).
        parameter: &'static str,
        /// What was too expensive and the limit.
        message: String,
    },
    /// The index could not be read.
    #[error(transparent)]
    Index(#[from] whodid_index::IndexError),
    /// tantivy failed while searching.
    #[error("searching: {0}")]
    Tantivy(#[from] whodid_index::tantivy::TantivyError),
}

impl SearchError {
    /// Whether the request is at fault (a bad or too expensive query or
    /// parameter), not the service.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            SearchError::Query(_)
                | SearchError::Parameter { .. }
                | SearchError::TooExpensive { .. }
        )
    }

    pub(crate) fn too_expensive(message: impl Into<String>) -> SearchError {
        SearchError::TooExpensive {
            parameter: "q",
            message: message.into(),
        }
    }

    pub(crate) fn parameter(parameter: &'static str, message: impl Into<String>) -> SearchError {
        SearchError::Parameter {
            parameter,
            message: message.into(),
        }
    }
}
