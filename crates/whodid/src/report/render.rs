//! Printing the shared-account report: tables for people, one JSON
//! document, or CSV (one row per login or failed attempt; the commands of
//! a login joined with ` | `).

use std::io::Write;

use super::collect::{Command, Report, Use};

fn time(t: jiff::Timestamp) -> String {
    // Whole seconds: classic syslog has no fractions.
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

fn key_of(u: &Use) -> String {
    match (&u.key_type, &u.fingerprint) {
        (Some(t), Some(f)) => format!("{t} {f}"),
        (None, Some(f)) => f.clone(),
        _ => u.identified_by.clone(),
    }
}

fn person_of(person: &str, known: bool) -> String {
    if known {
        person.to_owned()
    } else {
        "UNKNOWN KEY".to_owned()
    }
}

fn window_text(report: &Report) -> String {
    let from = report.window.from.map_or("the start".to_owned(), time);
    let to = report.window.to.map_or("now".to_owned(), time);
    format!("{from} to {to}")
}

/// Left-aligned columns.
fn columns(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let width = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub(crate) fn table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Shared-account usage, {} (authlog records {}..{})",
        window_text(report),
        report.records.0,
        report.records.1
    )?;
    if report.accounts.is_empty() {
        writeln!(out, "\nNo shared account was used.")?;
        return Ok(());
    }
    writeln!(out)?;
    let mut rows = vec![vec![
        "ACCOUNT".to_owned(),
        "PEOPLE".to_owned(),
        "LOGINS".to_owned(),
        "UNKNOWN-KEY LOGINS".to_owned(),
        "FAILED".to_owned(),
        "SUDO".to_owned(),
        "DENIED".to_owned(),
        "HOSTS".to_owned(),
    ]];
    for (account, s) in &report.accounts {
        rows.push(vec![
            account.clone(),
            s.people.iter().cloned().collect::<Vec<_>>().join(", "),
            s.logins.to_string(),
            s.unknown_key_logins.to_string(),
            s.failed_attempts.to_string(),
            s.sudo_commands.to_string(),
            s.sudo_denied.to_string(),
            s.hosts.iter().cloned().collect::<Vec<_>>().join(", "),
        ]);
    }
    columns(out, &rows)?;

    writeln!(out, "\nLogins")?;
    let mut rows = vec![vec![
        "LOGIN".to_owned(),
        "HOST".to_owned(),
        "ACCOUNT".to_owned(),
        "PERSON".to_owned(),
        "KEY".to_owned(),
        "FROM".to_owned(),
        "SESSION END".to_owned(),
        "SUDO".to_owned(),
        "DENIED".to_owned(),
    ]];
    for u in &report.uses {
        rows.push(vec![
            time(u.login),
            u.host.clone(),
            u.account.clone(),
            person_of(&u.person, u.known),
            key_of(u),
            u.source.clone(),
            u.session_end.map_or("-".to_owned(), time),
            u.sudo.len().to_string(),
            u.denied.len().to_string(),
        ]);
    }
    columns(out, &rows)?;

    let commands: Vec<(&Use, &Command, bool)> = report
        .uses
        .iter()
        .flat_map(|u| {
            u.sudo
                .iter()
                .map(move |c| (u, c, true))
                .chain(u.denied.iter().map(move |c| (u, c, false)))
        })
        .collect();
    if !commands.is_empty() {
        writeln!(out, "\nsudo")?;
        let mut rows = vec![vec![
            "TIME".to_owned(),
            "HOST".to_owned(),
            "PERSON".to_owned(),
            "VIA".to_owned(),
            "AS".to_owned(),
            "RESULT".to_owned(),
            "COMMAND".to_owned(),
        ]];
        let mut sorted = commands;
        sorted.sort_by_key(|(_, c, _)| c.record);
        for (u, c, ran) in sorted {
            rows.push(vec![
                time(c.time),
                u.host.clone(),
                person_of(&u.person, u.known),
                u.account.clone(),
                c.run_as.clone(),
                if ran {
                    "ran".to_owned()
                } else {
                    format!("DENIED ({})", c.reason.as_deref().unwrap_or(""))
                },
                c.command.clone(),
            ]);
        }
        columns(out, &rows)?;
    }

    if !report.attempts.is_empty() {
        writeln!(out, "\nFailed logins")?;
        let mut rows = vec![vec![
            "TIME".to_owned(),
            "HOST".to_owned(),
            "ACCOUNT".to_owned(),
            "PERSON".to_owned(),
            "KEY".to_owned(),
            "FROM".to_owned(),
        ]];
        for a in &report.attempts {
            let person = if a.unknown_key {
                "UNKNOWN KEY".to_owned()
            } else {
                person_of(&a.person, a.known)
            };
            rows.push(vec![
                time(a.time),
                a.host.clone(),
                a.account.clone(),
                person,
                a.identified_by.clone(),
                a.source.clone(),
            ]);
        }
        columns(out, &rows)?;
    }
    Ok(())
}

pub(crate) fn json(report: &Report, out: &mut impl Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

/// One CSV field, quoted when it must be (RFC 4180).
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn commands_text(commands: &[Command]) -> String {
    commands
        .iter()
        .map(|c| format!("{} as {}", c.command, c.run_as))
        .collect::<Vec<_>>()
        .join(" | ")
}

pub(crate) fn csv(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "kind,time,host,account,person,known_person,identified_by,key,source,session_end,sudo_commands,sudo_denied,record"
    )?;
    for u in &report.uses {
        let row = [
            "login".to_owned(),
            time(u.login),
            u.host.clone(),
            u.account.clone(),
            u.person.clone(),
            u.known.to_string(),
            u.identified_by.clone(),
            key_of(u),
            u.source.clone(),
            u.session_end.map(time).unwrap_or_default(),
            commands_text(&u.sudo),
            commands_text(&u.denied),
            u.record.to_string(),
        ];
        writeln!(out, "{}", row.map(|f| field(&f)).join(","))?;
    }
    for a in &report.attempts {
        let row = [
            "failed_login".to_owned(),
            time(a.time),
            a.host.clone(),
            a.account.clone(),
            a.person.clone(),
            (a.known && !a.unknown_key).to_string(),
            a.identified_by.clone(),
            String::new(),
            a.source.clone(),
            String::new(),
            String::new(),
            String::new(),
            a.record.to_string(),
        ];
        writeln!(out, "{}", row.map(|f| field(&f)).join(","))?;
    }
    Ok(())
}
