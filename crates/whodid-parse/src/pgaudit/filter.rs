//! What to keep of pgaudit, per configuration: the three questions
//! operators settle with their DBA — which databases and tables, which
//! operations, which users.

use serde::Deserialize;

use super::PgAuditRecord;

/// A keep/drop rule set. Empty lists mean "all"; `exclude_*` wins over `include_*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PgAuditFilter {
    /// Databases to keep (empty: all).
    #[serde(default)]
    pub databases: Vec<String>,
    /// Objects to keep, e.g. `app.users` (empty: all).
    #[serde(default)]
    pub include_objects: Vec<String>,
    /// Objects to drop, e.g. `app."emailsSent"`.
    #[serde(default)]
    pub exclude_objects: Vec<String>,
    /// Classes to keep: READ, WRITE, FUNCTION, ROLE, DDL, MISC (empty: all).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Users to keep (empty: all).
    #[serde(default)]
    pub include_users: Vec<String>,
    /// Users to drop, e.g. the application's role.
    #[serde(default)]
    pub exclude_users: Vec<String>,
}

impl PgAuditFilter {
    /// Whether a record is kept.
    pub fn keeps(&self, record: &PgAuditRecord) -> bool {
        let object = record.audit.object_name.as_str();
        let user = record.log.user.as_str();
        let within =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        within(&self.databases, &record.log.database)
            && within(&self.classes, &record.audit.class)
            && within(&self.include_users, user)
            && !self.exclude_users.iter().any(|u| u == user)
            && (self.include_objects.is_empty() || self.include_objects.iter().any(|o| o == object))
            && !self.exclude_objects.iter().any(|o| o == object)
    }
}
