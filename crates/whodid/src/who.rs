//! `whodid who PERSON`: everything a person did, newest first, across every
//! stream — including while impersonating someone or through a shared account
//! (marked), and what others did as them.

use std::process::ExitCode;

use clap::Args;
use whodid_query::SearchRequest;

use crate::index_args::{print_results, SearchCommon};

#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    /// The person as whodid identifies them (`alice@example.com`, an SSH key owner, a service account).
    person: String,

    /// Narrow the timeline with a query (`stream:kubeaudit and verb:delete`).
    #[arg(long, short = 'q', default_value = "")]
    query: String,

    #[command(flatten)]
    common: SearchCommon,
}

pub(crate) fn run(args: WhoArgs) -> anyhow::Result<ExitCode> {
    // A person's whole history unless a range is given.
    let range = args.common.range("36500d")?;
    let service = args.common.service()?;
    let person = args.person.clone();
    let code = print_results(
        &args.common,
        true,
        &mut |cursor, limit, count| {
            service.who(
                &person,
                &args.query,
                &SearchRequest {
                    query: String::new(),
                    range,
                    limit,
                    cursor,
                    count,
                },
            )
        },
        &args.query,
    )?;
    Ok(code)
}
