//! The pgaudit record inside a log message:
//! `AUDIT: AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER`.

use serde::Serialize;

use super::csv::{split_record, CsvError};

/// The PARAMETER field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "values", rename_all = "snake_case")]
pub enum Parameters {
    /// `<none>`: no parameters.
    None,
    /// `<not logged>`: `pgaudit.log_parameter` is off.
    NotLogged,
    /// `<previously logged>`: `pgaudit.log_statement_once` repeated line.
    PreviouslyLogged,
    /// The bound values (NULL and empty are both empty strings).
    Values(Vec<String>),
}

/// One pgaudit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// `SESSION` or `OBJECT`.
    pub audit_type: String,
    /// Per-session id of the audited statement.
    pub statement_id: u64,
    /// Id within the statement (functions, DO blocks, triggers).
    pub substatement_id: u64,
    /// `READ`, `WRITE`, `FUNCTION`, `ROLE`, `DDL`, `MISC`, `MISC_SET`.
    pub class: String,
    /// The command (`SELECT`, `CREATE TABLE`, …).
    pub command: String,
    /// Object type (`TABLE`, `INDEX`, …), may be empty.
    pub object_type: String,
    /// Fully qualified object name, may be empty.
    pub object_name: String,
    /// The statement text (redacted where it held a password).
    pub statement: String,
    /// The parameters.
    pub parameters: Parameters,
    /// True when whodid removed a password from `statement`.
    pub redacted: bool,
}

/// Why an AUDIT message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The CSV inside the message is broken.
    #[error("AUDIT payload: {0}")]
    Csv(#[from] CsvError),
    /// Not the nine fields pgaudit writes.
    #[error("AUDIT payload has {0} fields, expected 8 or 9")]
    FieldCount(usize),
    /// A statement id that is not a number.
    #[error("AUDIT payload: statement id {0:?} is not a number")]
    StatementId(String),
}

/// Reads the AUDIT record of a log message; `None` when it is not one.
pub fn parse_audit(message: &str) -> Option<Result<AuditEntry, AuditError>> {
    let payload = message.strip_prefix("AUDIT: ")?;
    Some(parse_payload(payload))
}

fn parse_payload(payload: &str) -> Result<AuditEntry, AuditError> {
    let fields = split_record(payload)?;
    if fields.len() != 9 && fields.len() != 8 {
        return Err(AuditError::FieldCount(fields.len()));
    }
    let number = |s: &String| {
        s.parse::<u64>()
            .map_err(|_| AuditError::StatementId(s.clone()))
    };
    let parameters = match fields.get(8).map(String::as_str) {
        None | Some("<not logged>") => Parameters::NotLogged,
        Some("<none>") => Parameters::None,
        Some("<previously logged>") => Parameters::PreviouslyLogged,
        Some(values) => Parameters::Values(split_record(values)?),
    };
    let (statement, redacted) = match redact_passwords(&fields[7]) {
        Some(clean) => (clean, true),
        None => (fields[7].clone(), false),
    };
    Ok(AuditEntry {
        audit_type: fields[0].clone(),
        statement_id: number(&fields[1])?,
        substatement_id: number(&fields[2])?,
        class: fields[3].clone(),
        command: fields[4].clone(),
        object_type: fields[5].clone(),
        object_name: fields[6].clone(),
        statement,
        parameters,
        redacted,
    })
}

/// Removes password literals from role statements (`PASSWORD 'secret'`,
/// `ENCRYPTED PASSWORD E'…'`, `PASSWORD $$…$$`); `None` when there was none.
/// pgaudit 1.7 already writes `PASSWORD <REDACTED>`, older versions and
/// PostgreSQL's own STATEMENT lines do not.
pub fn redact_passwords(statement: &str) -> Option<String> {
    let upper = statement.to_ascii_uppercase();
    let mut out = String::with_capacity(statement.len());
    let mut copied = 0;
    let mut search = 0;
    let mut changed = false;
    while let Some(found) = upper[search..].find("PASSWORD") {
        let at = search + found;
        let after = at + "PASSWORD".len();
        search = after;
        let rest = &statement[after..];
        let trimmed = rest.trim_start();
        let literal_start = after + (rest.len() - trimmed.len());
        let literal_len = literal_length(trimmed);
        if literal_len == 0 {
            continue;
        }
        out.push_str(&statement[copied..literal_start]);
        out.push_str("'<redacted>'");
        copied = literal_start + literal_len;
        search = copied;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&statement[copied..]);
    Some(out)
}

/// The length of a string literal at the start of `text` (0 if none).
fn literal_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (open, skip) = match bytes.first() {
        Some(b'\'') => (b'\'', 1),
        Some(b'E' | b'e') if bytes.get(1) == Some(&b'\'') => (b'\'', 2),
        Some(b'$') => {
            let Some(end_tag) = text[1..].find('$') else {
                return 0;
            };
            let tag = &text[..end_tag + 2];
            return match text[tag.len()..].find(tag) {
                Some(close) => tag.len() + close + tag.len(),
                None => text.len(),
            };
        }
        _ => return 0,
    };
    let mut i = skip;
    while i < bytes.len() {
        if bytes[i] == b'\\' && skip == 2 {
            i += 2;
            continue;
        }
        if bytes[i] == open {
            if bytes.get(i + 1) == Some(&open) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_statements_and_parameters() {
        let e = parse_audit(r#"AUDIT: OBJECT,16,1,WRITE,UPDATE,TABLE,"app.""emailsSent""","UPDATE x SET a = 'b, c'","3,""x, """"q"""", y""""#)
            .unwrap()
            .unwrap();
        assert_eq!(e.object_name, "app.\"emailsSent\"");
        assert_eq!(e.statement, "UPDATE x SET a = 'b, c'");
        assert_eq!(
            e.parameters,
            Parameters::Values(vec!["3".into(), "x, \"q\", y".into()])
        );
        assert!(parse_audit("connection authorized: user=x").is_none());
        assert!(parse_audit("AUDIT: SESSION,x,1,READ").unwrap().is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_passwords(
                "ALTER ROLE bob WITH ENCRYPTED PASSWORD 'it''s secret' VALID UNTIL '2030-01-01'"
            )
            .as_deref(),
            Some("ALTER ROLE bob WITH ENCRYPTED PASSWORD '<redacted>' VALID UNTIL '2030-01-01'")
        );
        assert_eq!(
            redact_passwords("create user x password $p$s3cr3t$p$").as_deref(),
            Some("create user x password '<redacted>'")
        );
        assert_eq!(
            redact_passwords("CREATE ROLE a LOGIN PASSWORD <REDACTED>"),
            None
        );
        assert_eq!(redact_passwords("SELECT 1"), None);
    }
}
