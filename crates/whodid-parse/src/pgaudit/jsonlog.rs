//! PostgreSQL jsonlog (15+): one JSON object per line; keys are omitted
//! when empty (`user`/`dbname` on postmaster lines).

use serde::Deserialize;

use super::record::{PgLogError, PgLogRecord};
use super::time::ZoneTable;
use super::LogItem;
use crate::diagnostic::Diagnostic;
use crate::parsed::Position;

#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
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
    session_id: String,
    #[serde(default)]
    application_name: String,
    error_severity: String,
    #[serde(default)]
    message: String,
}

/// Reads one jsonlog line.
pub(crate) fn read_line(at: Position, line: &str, zones: &ZoneTable) -> LogItem {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return LogItem::Skipped;
    }
    match record(at, line, zones) {
        Ok(record) => LogItem::Record(record),
        Err(error) => LogItem::Diagnostic(Diagnostic::new(at, error.into(), line.as_bytes())),
    }
}

fn record(at: Position, line: &str, zones: &ZoneTable) -> Result<PgLogRecord, PgLogError> {
    let json: JsonRecord<'_> = serde_json::from_str(line).map_err(|e| PgLogError::Json {
        reason: e.to_string(),
    })?;
    let time = zones
        .parse(&json.timestamp)
        .map_err(|e| PgLogError::from_time(e, &json.timestamp))?;
    let client = match (json.remote_host, json.remote_port) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host,
        _ => String::new(),
    };
    Ok(PgLogRecord {
        position: at,
        raw: line.to_owned(),
        time,
        pid: json.pid,
        user: json.user,
        database: json.dbname,
        client,
        application: json.application_name,
        session_id: json.session_id,
        severity: json.error_severity,
        message: json.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let line = r#"{"timestamp":"2026-11-22 18:25:45.892 UTC","user":"dba_alice","dbname":"appdb","pid":8020,"remote_host":"127.0.0.1","remote_port":59384,"session_id":"s","error_severity":"LOG","message":"AUDIT: x"}"#;
        let LogItem::Record(r) = read_line(Position::START, line, &ZoneTable::default()) else {
            panic!()
        };
        assert_eq!(
            (r.client.as_str(), r.user.as_str()),
            ("127.0.0.1:59384", "dba_alice")
        );
        for bad in [
            "{",
            r#"{"timestamp":"x","error_severity":"LOG"}"#,
            "[1]",
            r#"{"error_severity":"LOG"}"#,
        ] {
            assert!(
                matches!(
                    read_line(Position::START, bad, &ZoneTable::default()),
                    LogItem::Diagnostic(_)
                ),
                "{bad}"
            );
        }
    }
}
