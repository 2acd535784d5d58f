//! `whodid policy test POLICY LOG...`: simulate a policy on captured events.
//!
//! Prints, per rule, how many events it matched and keeps and how many bytes
//! they take; totals per level and stage; the size kept against the input;
//! and the security-relevant requests the policy drops or keeps without
//! bodies. Bad lines are reported on stderr with file and line and counted;
//! the rest is processed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use whodid_model::k8s::read_log;
use whodid_policy::simulate::{Simulation, SimulationReport};

use super::load::load_valid_policy;
use crate::input::InputSource;
use crate::output::OutputFormat;

#[derive(Serialize)]
struct TestOutput<'a> {
    policy: String,
    logs: Vec<String>,
    bad_lines: u64,
    #[serde(flatten)]
    report: &'a SimulationReport,
}

pub(crate) fn run(
    policy_path: &Path,
    logs: &[PathBuf],
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let policy = load_valid_policy(policy_path)?;
    let mut simulation = Simulation::new(&policy);
    let mut bad_lines = 0u64;
    for log in logs {
        let source = InputSource::from_arg(log);
        let bytes = source.read_all()?;
        let name = source.name();
        read_log(
            &bytes,
            |event| simulation.observe(&event.event, event.raw.len()),
            |error| {
                bad_lines += 1;
                eprintln!("{name}: {error}");
            },
        );
    }
    let report = simulation.finish();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output {
        OutputFormat::Json => {
            let doc = TestOutput {
                policy: policy_path.display().to_string(),
                logs: logs.iter().map(|l| l.display().to_string()).collect(),
                bad_lines,
                report: &report,
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        OutputFormat::Text => print_tables(&mut out, &report, bad_lines)?,
    }
    Ok(if bad_lines > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

fn print_tables(
    out: &mut impl Write,
    report: &SimulationReport,
    bad_lines: u64,
) -> std::io::Result<()> {
    writeln!(out, "rules")?;
    writeln!(
        out,
        "  {:>4}  {:<16} {:>9} {:>9} {:>12} {:>7}",
        "rule", "level", "matched", "kept", "bytes", "bytes%"
    )?;
    for rule in &report.rules {
        writeln!(
            out,
            "  {:>4}  {:<16} {:>9} {:>9} {:>12} {:>7}",
            rule.index,
            rule.level.as_str(),
            rule.matched,
            rule.events,
            rule.bytes,
            percent(rule.bytes, report.bytes_kept)
        )?;
    }
    writeln!(
        out,
        "  {:>4}  {:<16} {:>9} {:>9} {:>12}",
        "-", "(no rule: None)", report.unmatched.events, 0, 0
    )?;
    writeln!(out, "\nlevels (kept events; None = dropped)")?;
    for (level, volume) in &report.levels {
        writeln!(
            out,
            "  {:<16} {:>9} events {:>12} bytes",
            level.as_str(),
            volume.events,
            volume.bytes
        )?;
    }
    writeln!(out, "\nstages (kept)")?;
    for (stage, volume) in &report.stages {
        writeln!(
            out,
            "  {:<16} {:>9} events {:>12} bytes",
            stage.as_str(),
            volume.events,
            volume.bytes
        )?;
    }
    writeln!(out, "\nsize")?;
    writeln!(
        out,
        "  events: {} in, {} kept ({})",
        report.events_in,
        report.events_kept,
        percent(report.events_kept, report.events_in)
    )?;
    writeln!(
        out,
        "  bytes:  {} in, {} kept ({})",
        report.bytes_in,
        report.bytes_kept,
        percent(report.bytes_kept, report.bytes_in)
    )?;
    if report.captured_below_policy > 0 {
        writeln!(
            out,
            "  note: {} events were captured at a lower level than this policy assigns; their kept size is a lower bound",
            report.captured_below_policy
        )?;
    }
    writeln!(out, "\nsecurity-relevant requests")?;
    writeln!(
        out,
        "  {:<26} {:>9} {:>9} {:>13}  examples",
        "category", "requests", "dropped", "without body"
    )?;
    for s in &report.security {
        let examples: Vec<&str> = s
            .dropped_examples
            .iter()
            .chain(&s.without_body_examples)
            .take(3)
            .map(String::as_str)
            .collect();
        writeln!(
            out,
            "  {:<26} {:>9} {:>9} {:>13}  {}",
            s.category.title(),
            s.requests,
            s.dropped,
            s.without_body,
            examples.join(" ")
        )?;
    }
    if bad_lines > 0 {
        writeln!(out, "\n{bad_lines} lines could not be read (see stderr)")?;
    }
    Ok(())
}
