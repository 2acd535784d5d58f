//! How commands print results: human tables by default, JSON for machines.

use clap::ValueEnum;

/// The output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Readable text and tables.
    #[default]
    Text,
    /// One JSON document.
    Json,
}
