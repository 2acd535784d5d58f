//! What to keep of pgaudit, per configuration: the three questions
//! operators settle with their DBA — which databases and tables (e.g.
//! `app.users` but not `app.emailsSent`), which operations (e.g. writes,
//! not reads), which users (persons, not the application's role).
//!
//! ```yaml
//! databases: {include: [appdb]}
//! objects: {include: ["app.users"], exclude: ["app.emailsSent"]}
//! classes: {include: [WRITE, DDL, ROLE]}
//! users: {exclude: [app_service]}
//! ```
//!
//! Each selector keeps a value when `include` is empty or one of its
//! patterns matches, and no `exclude` pattern matches. Patterns are
//! case-insensitive and may use `*`. Object names are compared as SQL
//! names without their quotes and argument lists: `app.emailsSent` matches
//! `app."emailsSent"`, `app.anonymize_user` matches
//! `app.anonymize_user(bigint)`. A record that names no object (`SET`,
//! `GRANT`, `TRUNCATE` without `log_relation`) passes the object test
//! unless `objects.unnamed` is false. The class `MISC_SET` of
//! `pgaudit.log` is logged as `MISC`, and matches it.

use serde::Deserialize;

use super::PgAuditRecord;

/// Include/exclude patterns for one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Keep only matching values (empty: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Drop matching values (wins over `include`).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Include/exclude patterns for object names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSelector {
    /// Keep only matching objects (empty: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Drop matching objects.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Whether records naming no object are kept.
    #[serde(default = "yes")]
    pub unnamed: bool,
}

fn yes() -> bool {
    true
}

impl Default for ObjectSelector {
    fn default() -> ObjectSelector {
        ObjectSelector {
            include: Vec::new(),
            exclude: Vec::new(),
            unnamed: true,
        }
    }
}

/// A keep/drop rule set for pgaudit records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgAuditFilter {
    /// Databases.
    #[serde(default)]
    pub databases: Selector,
    /// Objects (`schema.table`, functions, …).
    #[serde(default)]
    pub objects: ObjectSelector,
    /// pgaudit classes: READ, WRITE, FUNCTION, ROLE, DDL, MISC (MISC_SET).
    #[serde(default)]
    pub classes: Selector,
    /// Commands: SELECT, UPDATE, CREATE TABLE, …
    #[serde(default)]
    pub commands: Selector,
    /// Database roles.
    #[serde(default)]
    pub users: Selector,
    /// SESSION or OBJECT.
    #[serde(default)]
    pub audit_types: Selector,
}

impl Selector {
    fn keeps_with(&self, value: &str, normalize: impl Fn(&str) -> String) -> bool {
        let value = normalize(value);
        let matches = |pattern: &String| glob(&normalize(pattern), &value);
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }

    /// Whether `value` is kept.
    pub fn keeps(&self, value: &str) -> bool {
        self.keeps_with(value, str::to_ascii_lowercase)
    }
}

impl PgAuditFilter {
    /// Whether a record is kept.
    pub fn keeps(&self, record: &PgAuditRecord) -> bool {
        let audit = &record.audit;
        self.audit_types.keeps(&audit.audit_type)
            && self.databases.keeps(&record.database)
            && self.users.keeps(&record.user)
            && self.classes.keeps_with(&audit.class, class_name)
            && self.commands.keeps(&audit.command)
            && self.keeps_object(&audit.object_name)
    }

    fn keeps_object(&self, name: &str) -> bool {
        if name.is_empty() {
            return self.objects.unnamed;
        }
        let selector = Selector {
            include: self.objects.include.clone(),
            exclude: self.objects.exclude.clone(),
        };
        selector.keeps_with(name, object_name)
    }
}

fn class_name(class: &str) -> String {
    let class = class.to_ascii_lowercase();
    if class == "misc_set" {
        "misc".to_owned()
    } else {
        class
    }
}

/// `app."emailsSent"` → `app.emailssent`; `f(bigint)` → `f`.
fn object_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut quoted = false;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            '(' if !quoted => break,
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == value;
    };
    if parts.len() == 1 {
        return pattern == value;
    }
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_globs() {
        assert_eq!(object_name("app.\"emailsSent\""), "app.emailssent");
        assert_eq!(
            object_name("app.anonymize_user(bigint)"),
            "app.anonymize_user"
        );
        assert_eq!(object_name("\"a\"\"b\".c"), "a\"b.c");
        assert!(glob("app.*", "app.users"));
        assert!(glob("*.users", "app.users"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("*", ""));
        assert!(glob("users", "users") && !glob("users", "user"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e =
            serde_json::from_str::<PgAuditFilter>(r#"{"tables": {"include": ["x"]}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `tables`"), "{e}");
        let e =
            serde_json::from_str::<PgAuditFilter>(r#"{"users": {"inclde": ["x"]}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `inclde`"), "{e}");
    }
}
