//! `whodid search QUERY`: the query language over every stream.

use std::process::ExitCode;

use clap::Args;
use whodid_index::catalogue::{FieldKind, Source, FIELDS};
use whodid_query::SearchRequest;

use crate::index_args::{print_results, SearchCommon};

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The query, e.g. `user.username:"alice@example.com" and verb:(create or delete)`; empty or `*` for everything.
    #[arg(required_unless_present = "fields")]
    query: Option<String>,

    /// List the searchable fields and exit.
    #[arg(long)]
    fields: bool,

    #[command(flatten)]
    common: SearchCommon,
}

pub(crate) fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    if args.fields {
        for spec in FIELDS {
            let kind = match (spec.kind, spec.source) {
                (_, Source::KubeAnnotations) => "keyword  annotations.<key> (kubeaudit)",
                (FieldKind::Keyword, Source::Kube(_)) => "keyword  (kubeaudit)",
                (FieldKind::Keyword, _) => "keyword",
                (FieldKind::Number, _) => "number   (kubeaudit)",
                (FieldKind::Date, _) => "time",
            };
            let agg = if spec.aggregatable {
                "  aggregatable"
            } else {
                ""
            };
            println!("{:<28} {kind}{agg}", spec.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let query = args.query.unwrap_or_default();
    let range = args.common.range("24h")?;
    let service = args.common.service()?;
    print_results(
        &args.common,
        false,
        &mut |cursor, limit, count| {
            service.search(&SearchRequest {
                query: query.clone(),
                range,
                limit,
                cursor,
                count,
            })
        },
        &query,
    )?;
    Ok(ExitCode::SUCCESS)
}
