//! `whodid search QUERY`: the query language over every stream.

use std::process::ExitCode;

use clap::Args;
use whodid_index::catalogue::{FieldKind, Source, FIELDS};
use whodid_query::range::parse_duration;
use whodid_query::{AggregateKind, AggregateRequest, Aggregation, SearchRequest};

use crate::index_args::{
    exit_code, explain, print_results, warn_unreadable, ResultFormat, SearchCommon,
};

fn print_aggregation(result: &Aggregation, format: ResultFormat) -> anyhow::Result<()> {
    match format {
        ResultFormat::Json | ResultFormat::Ndjson => {
            println!("{}", serde_json::to_string_pretty(result)?);
        }
        ResultFormat::Csv => {
            print!("{}", whodid_query::hit::csv_line(&["key", "count"]));
            for bucket in &result.buckets {
                print!(
                    "{}",
                    whodid_query::hit::csv_line(&[bucket.key.clone(), bucket.count.to_string()])
                );
            }
        }
        ResultFormat::Table => {
            let width = result
                .buckets
                .iter()
                .map(|b| b.key.chars().count())
                .max()
                .unwrap_or(0);
            for bucket in &result.buckets {
                println!("{:<width$}  {:>10}", bucket.key, bucket.count);
            }
            if let Some(other) = result.other {
                println!("{:<width$}  {other:>10}", "(other)");
            }
            if let Some(distinct) = result.distinct {
                println!("{distinct} different values");
            }
            eprintln!(
                "{} matching records ({:.1} ms)",
                result.matched, result.took_ms
            );
            if result.budget_exceeded {
                eprintln!("the time budget ran out: counts are incomplete (raise --budget or narrow the range)");
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The query, e.g. `user.username:"alice@example.com" and verb:(create or delete)`; empty or `*` for everything.
    #[arg(required_unless_present = "fields")]
    query: Option<String>,

    /// List the searchable fields and exit.
    #[arg(long)]
    fields: bool,

    /// Instead of hits: the most frequent values of this field among them.
    #[arg(long, value_name = "FIELD", conflicts_with_all = ["distinct", "histogram"])]
    top: Option<String>,

    /// How many top values (--top).
    #[arg(long, default_value_t = 10)]
    size: usize,

    /// Instead of hits: how many different values this field has among them.
    #[arg(long, value_name = "FIELD", conflicts_with = "histogram")]
    distinct: Option<String>,

    /// Instead of hits: how many per time bucket of this width (5m, 1h, 1d).
    #[arg(long, value_name = "INTERVAL")]
    histogram: Option<String>,

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
    let kind = match (args.top, args.distinct, args.histogram) {
        (Some(field), _, _) => Some(AggregateKind::Terms {
            field,
            size: args.size,
        }),
        (_, Some(field), _) => Some(AggregateKind::Distinct { field }),
        (_, _, Some(interval)) => Some(AggregateKind::Histogram {
            interval_micros: parse_duration(&interval).ok_or_else(|| {
                anyhow::anyhow!("--histogram {interval:?}: expected a duration such as 5m, 1h, 1d")
            })?,
        }),
        _ => None,
    };
    if let Some(kind) = kind {
        let result = service
            .aggregate(&AggregateRequest {
                query: query.clone(),
                range,
                kind,
            })
            .map_err(|e| explain(e, &query))?;
        print_aggregation(&result, args.common.output)?;
        warn_unreadable(&result.unreadable_records);
        return Ok(exit_code(&result.unreadable_records));
    }
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
    )
}
