//! PostgreSQL 15 jsonlog: one JSON object per line; empty keys are omitted.

use serde::Deserialize;

use super::record::{parse_pg_time, PgLogError, PgLogRecord};

#[derive(Deserialize)]
struct JsonRecord {
    timestamp: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    dbname: String,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    remote_host: Option<String>,
    #[serde(default)]
    remote_port: Option<u32>,
    #[serde(default)]
    application_name: String,
    error_severity: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

/// Reads a jsonlog file.
pub fn read_jsonlog(text: &str) -> (Vec<PgLogRecord>, Vec<PgLogError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: JsonRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                errors.push(PgLogError::Json {
                    line: number,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let Some(time) = parse_pg_time(&record.timestamp) else {
            errors.push(PgLogError::Timestamp {
                line: number,
                text: record.timestamp,
            });
            continue;
        };
        let client = match (record.remote_host, record.remote_port) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host,
            _ => String::new(),
        };
        out.push(PgLogRecord {
            line: number,
            time,
            pid: record.pid,
            user: record.user,
            database: record.dbname,
            client,
            application: record.application_name,
            severity: record.error_severity,
            message: record.message,
            context: [
                ("DETAIL", record.detail),
                ("HINT", record.hint),
                ("CONTEXT", record.context),
                ("STATEMENT", record.statement),
            ]
            .into_iter()
            .filter_map(|(kind, text)| text.map(|t| format!("{kind}: {t}")))
            .collect(),
        });
    }
    (out, errors)
}
