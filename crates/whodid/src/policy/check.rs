//! `whodid policy check POLICY`: validate as the apiserver does, then lint.
//!
//! Exit status 0 when the apiserver would load the policy (lint findings are
//! advice and do not change it), 1 when it would refuse it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use whodid_policy::lint::{lint, Finding};
use whodid_policy::load::{load_policy, PolicyDiagnostic};

use crate::output::OutputFormat;

#[derive(Serialize)]
struct Report<'a> {
    policy: &'a str,
    valid: bool,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct Diagnostic {
    line: Option<usize>,
    column: Option<usize>,
    field: Option<String>,
    rule: Option<usize>,
    message: String,
}

impl From<&PolicyDiagnostic> for Diagnostic {
    fn from(d: &PolicyDiagnostic) -> Self {
        Diagnostic {
            line: d.position.map(|p| p.line),
            column: d.position.map(|p| p.column),
            field: d.field.clone(),
            rule: d.rule,
            message: d.problem.to_string(),
        }
    }
}

pub(crate) fn run(policy_path: &Path, output: OutputFormat) -> anyhow::Result<ExitCode> {
    let origin = policy_path.display().to_string();
    let bytes = std::fs::read(policy_path).with_context(|| format!("reading {origin}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{origin}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let (valid, errors, warnings, findings) = match load_policy(&text, &origin) {
        Ok(loaded) => {
            let findings = lint(&loaded);
            (true, Vec::new(), loaded.warnings, findings)
        }
        Err(error) => (false, error.errors, error.warnings, Vec::new()),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output {
        OutputFormat::Json => {
            let report = Report {
                policy: &origin,
                valid,
                errors: errors.iter().map(Diagnostic::from).collect(),
                warnings: warnings.iter().map(Diagnostic::from).collect(),
                findings: &findings,
            };
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            for error in &errors {
                writeln!(out, "error: {error}")?;
            }
            for warning in &warnings {
                writeln!(out, "warning: {warning}")?;
            }
            for finding in &findings {
                let location = match finding.line {
                    Some(line) => format!("{origin}:{line}"),
                    None => origin.clone(),
                };
                writeln!(out, "{location}: {finding}")?;
                writeln!(out, "    why: {}", finding.why)?;
                writeln!(out, "    fix: {}", finding.fix)?;
            }
            let verdict = if valid {
                "valid: the kube-apiserver would load this policy"
            } else {
                "invalid: the kube-apiserver would refuse to start with this policy"
            };
            writeln!(
                out,
                "{origin}: {verdict} ({} errors, {} warnings, {} lint findings)",
                errors.len(),
                warnings.len(),
                findings.len()
            )?;
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
