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
    /// The statement text (see [`super::redact`]: the parser removes
    /// passwords before handing the record out).
    pub statement: String,
    /// The parameters.
    pub parameters: Parameters,
    /// True when whodid removed a password from `statement` (and the raw text).
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
    /// An audit type other than SESSION and OBJECT.
    #[error("AUDIT payload: audit type {0:?} is not SESSION or OBJECT")]
    AuditType(String),
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
    let mut fields = fields.into_iter();
    let mut next = || fields.next().unwrap_or_default();
    let audit_type = next();
    if audit_type != "SESSION" && audit_type != "OBJECT" {
        return Err(AuditError::AuditType(audit_type.chars().take(40).collect()));
    }
    let number = |s: String| {
        s.parse::<u64>()
            .map_err(|_| AuditError::StatementId(s.chars().take(40).collect()))
    };
    let statement_id = number(next())?;
    let substatement_id = number(next())?;
    let (class, command, object_type, object_name, statement) =
        (next(), next(), next(), next(), next());
    let parameters = match fields.next().as_deref() {
        None | Some("<not logged>") => Parameters::NotLogged,
        Some("<none>") => Parameters::None,
        Some("<previously logged>") => Parameters::PreviouslyLogged,
        Some(values) => Parameters::Values(split_record(values)?),
    };
    Ok(AuditEntry {
        audit_type,
        statement_id,
        substatement_id,
        class,
        command,
        object_type,
        object_name,
        statement,
        parameters,
        redacted: false,
    })
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
}
