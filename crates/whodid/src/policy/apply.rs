//! `whodid policy apply POLICY`: a stream filter. Events on stdin, the events
//! this policy would have produced on stdout, in the same format: JSON lines
//! in, JSON lines out; an `EventList` in, an `EventList` out.
//!
//! An event the policy keeps unchanged is written byte for byte as read; one
//! whose bodies are stripped is re-encoded.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use whodid_model::k8s::{read_log, LogShape};
use whodid_policy::apply::apply_to_event;
use whodid_policy::attributes::RequestAttributes;
use whodid_policy::evaluate::Evaluator;

use super::load::load_valid_policy;
use crate::input::InputSource;

pub(crate) fn run(policy_path: &Path) -> anyhow::Result<ExitCode> {
    let policy = load_valid_policy(policy_path)?;
    let evaluator = Evaluator::new(&policy);
    let source = InputSource::Stdin;
    let bytes = source.read_all()?;
    let shape = whodid_model::k8s::detect_shape(&bytes);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut write_error: Option<std::io::Error> = None;
    let mut bad = 0u64;
    let mut first = true;
    if shape == LogShape::EventList {
        out.write_all(b"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":[")?;
    }
    read_log(
        &bytes,
        |event| {
            if write_error.is_some() {
                return;
            }
            let decision = evaluator.decide(&RequestAttributes::from_event(&event.event));
            let Some(kept) = apply_to_event(&decision, &event.event) else {
                return;
            };
            let mut result = Ok(());
            if shape == LogShape::EventList && !first {
                result = out.write_all(b",");
            }
            first = false;
            let result = result.and_then(|()| {
                if unchanged(&kept, &event.event) {
                    out.write_all(event.raw)
                } else {
                    serde_json::to_writer(&mut out, &kept).map_err(std::io::Error::from)
                }
            });
            let result = result.and_then(|()| {
                if shape == LogShape::JsonLines {
                    out.write_all(b"\n")
                } else {
                    Ok(())
                }
            });
            if let Err(e) = result {
                write_error = Some(e);
            }
        },
        |error| {
            bad += 1;
            eprintln!("<stdin>: {error}");
        },
    );
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if shape == LogShape::EventList {
        out.write_all(b"]}\n")?;
    }
    out.flush()?;
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether the policy kept the event exactly as it was read.
fn unchanged(kept: &whodid_model::k8s::Event, original: &whodid_model::k8s::Event) -> bool {
    kept.level == original.level
        && kept.request_object == original.request_object
        && kept.response_object == original.response_object
}
