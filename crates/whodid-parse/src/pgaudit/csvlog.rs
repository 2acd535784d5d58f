//! PostgreSQL 15 csvlog: 26 columns per record, records may span lines.

use super::csv::{records, split_record};
use super::record::{parse_pg_time, PgLogError, PgLogRecord};

/// Reads a csvlog file.
pub fn read_csvlog(text: &str) -> (Vec<PgLogRecord>, Vec<PgLogError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (line, row) in records(text) {
        let fields = match split_record(row) {
            Ok(fields) => fields,
            Err(e) => {
                errors.push(PgLogError::Csv {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if fields.len() < 23 {
            errors.push(PgLogError::Csv {
                line,
                reason: format!("{} columns, expected 26 (PostgreSQL 15)", fields.len()),
            });
            continue;
        }
        let Some(time) = parse_pg_time(&fields[0]) else {
            errors.push(PgLogError::Timestamp {
                line,
                text: fields[0].clone(),
            });
            continue;
        };
        out.push(PgLogRecord {
            line,
            time,
            pid: fields[3].parse().ok(),
            user: fields[1].clone(),
            database: fields[2].clone(),
            client: fields[4].clone(),
            application: fields[22].clone(),
            severity: fields[11].clone(),
            message: fields[13].clone(),
            context: [
                ("DETAIL", 14),
                ("HINT", 15),
                ("CONTEXT", 18),
                ("STATEMENT", 19),
            ]
            .into_iter()
            .filter(|(_, i)| !fields[*i].is_empty())
            .map(|(kind, i)| format!("{kind}: {}", fields[i]))
            .collect(),
        });
    }
    (out, errors)
}
