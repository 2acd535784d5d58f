//! `whodid policy decide POLICY LOG`: the policy's decision for every event,
//! one JSON line each, in the shape of the apiserver oracle files:
//! `{"auditID","stage","level","omitStages","omitManagedFields","emit"}`.
//!
//! The level is the one the policy assigns, whatever level the input was
//! captured at. `omitStages` is sorted by name.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use whodid_model::k8s::read_log;
use whodid_policy::attributes::RequestAttributes;
use whodid_policy::evaluate::Evaluator;

use super::load::load_valid_policy;
use crate::input::InputSource;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecisionLine<'a> {
    #[serde(rename = "auditID")]
    audit_id: &'a str,
    stage: &'static str,
    level: &'static str,
    omit_stages: Vec<&'static str>,
    omit_managed_fields: bool,
    emit: bool,
}

pub(crate) fn run(policy_path: &Path, log: &Path) -> anyhow::Result<ExitCode> {
    let policy = load_valid_policy(policy_path)?;
    let evaluator = Evaluator::new(&policy);
    let source = InputSource::from_arg(log);
    let bytes = source.read_all()?;
    let name = source.name();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_error: Option<std::io::Error> = None;
    let mut bad = 0u64;
    read_log(
        &bytes,
        |event| {
            if write_error.is_some() {
                return;
            }
            let decision = evaluator.decide(&RequestAttributes::from_event(&event.event));
            let line = DecisionLine {
                audit_id: &event.event.audit_id,
                stage: event.event.stage.as_str(),
                level: decision.level.as_str(),
                omit_stages: decision.omit_stages.sorted_names(),
                omit_managed_fields: decision.omit_managed_fields,
                emit: decision.emits(event.event.stage),
            };
            let result = serde_json::to_writer(&mut out, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = result {
                write_error = Some(e);
            }
        },
        |error| {
            bad += 1;
            eprintln!("{name}: {error}");
        },
    );
    if let Some(e) = write_error {
        return Err(e.into());
    }
    out.flush()?;
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
