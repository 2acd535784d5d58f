//! The scenarios tests run on the real programs, with what they should
//! produce, so that parser tests and end-to-end tests agree on it.
//!
//! - [`ssh_scenario`]: Eve logs in to the shared account with her key and
//!   runs the allowed sudo commands; Mallory logs in with a terminal and
//!   is refused [`SUDO_DENIED`](crate::sshd::SUDO_DENIED); a key nobody
//!   authorized is refused; an account that does not exist is tried.
//! - [`pgaudit_workload`]: a DBA (`postgres`) creates roles with passwords
//!   and the `app` schema; a person (`alice`) reads and writes `app.users`
//!   and `app."emailsSent"` and changes her password; the application
//!   (`app_service`, application_name `app-backend`) does the same kind of
//!   work; a password goes through a `DO` block (which pgaudit does not
//!   redact) and through a failing statement (which PostgreSQL logs as is).

use crate::postgres::Postgres;
use crate::sshd::{Sshd, INVALID_USER, SUDO_ALLOWED, SUDO_DENIED};

/// What [`ssh_scenario`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshScenario {
    /// The person of the first key (logs in twice: command, then sudo).
    pub eve: String,
    /// The person of the second key (terminal, refused sudo).
    pub mallory: String,
}

/// Runs the SSH scenario and waits until it is all logged.
pub fn ssh_scenario(sshd: &Sshd) -> SshScenario {
    let [eve, mallory] = [&sshd.keys()[0], &sshd.keys()[1]];
    let account = sshd.account();
    let sudo = format!("sudo -n {} && sudo -n {}", SUDO_ALLOWED[0], SUDO_ALLOWED[1]);
    let out = sshd.ssh(eve, account, &sudo, false);
    assert_eq!(out.code, Some(0), "eve's sudo: {out:?}");
    assert!(out.stdout.contains("uid=0(root)"), "eve's sudo id: {out:?}");
    let out = sshd.ssh(mallory, account, &format!("sudo -n {SUDO_DENIED}"), true);
    assert_ne!(out.code, Some(0), "mallory's sudo must be refused: {out:?}");
    let out = sshd.ssh(sshd.unknown_key(), account, "id", false);
    assert_eq!(
        out.code,
        Some(255),
        "an unknown key must be refused: {out:?}"
    );
    let out = sshd.ssh(eve, INVALID_USER, "id", false);
    assert_eq!(
        out.code,
        Some(255),
        "an invalid user must be refused: {out:?}"
    );
    sshd.settle();
    SshScenario {
        eve: eve.person.clone(),
        mallory: mallory.person.clone(),
    }
}

/// The person role.
pub const PERSON_ROLE: &str = "alice";
/// The application role.
pub const APP_ROLE: &str = "app_service";
/// The application's `application_name`.
pub const APP_NAME: &str = "app-backend";

/// Every password the workload sets: none may be stored.
pub const PASSWORDS: [&str; 5] = [
    "alice-pw-1f9e",
    "app-pw-77c2",
    "alice-pw-2b41",
    "app-pw-do-5d0e",
    "err-pw-9a3c",
];

/// Runs the pgaudit workload (the server keeps running; stop it to have
/// every record in the logs).
pub fn pgaudit_workload(pg: &Postgres) {
    let [alice_pw, app_pw, alice_pw2, do_pw, err_pw] = PASSWORDS;
    pg.psql_ok(
        "postgres",
        "psql",
        &[
            "CREATE ROLE auditor NOLOGIN",
            &format!("CREATE ROLE {PERSON_ROLE} LOGIN PASSWORD '{alice_pw}'"),
            &format!("CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{app_pw}'"),
            "CREATE SCHEMA app",
            "CREATE TABLE app.users (id int PRIMARY KEY, email text NOT NULL)",
            "CREATE TABLE app.\"emailsSent\" (id int, user_id int, subject text)",
            &format!("GRANT USAGE ON SCHEMA app TO {PERSON_ROLE}, {APP_ROLE}"),
            &format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON app.users, app.\"emailsSent\" TO {PERSON_ROLE}, {APP_ROLE}"
            ),
            // Object audit: every access to app.users, reads included.
            "GRANT SELECT, INSERT, UPDATE, DELETE ON app.users TO auditor",
        ],
    );
    pg.psql_ok(
        PERSON_ROLE,
        "psql",
        &[
            "INSERT INTO app.users VALUES (1, 'one@example.com'), (2, 'two@example.com')",
            "SELECT email FROM app.users WHERE id = 1",
            "UPDATE app.users SET email = 'uno@example.com' WHERE id = 1",
            "INSERT INTO app.\"emailsSent\" VALUES (1, 1, 'Welcome, \"friend\"')",
            "SELECT count(*) FROM app.\"emailsSent\"",
            &format!("ALTER ROLE {PERSON_ROLE} PASSWORD '{alice_pw2}'"),
        ],
    );
    pg.psql_ok(
        APP_ROLE,
        APP_NAME,
        &[
            "SELECT id, email FROM app.users ORDER BY id",
            "PREPARE mark(int, text) AS INSERT INTO app.\"emailsSent\" VALUES ($1, 2, $2)",
            "EXECUTE mark(2, 'Your, receipt')",
            "DELETE FROM app.users WHERE id = 2",
        ],
    );
    pg.psql_ok(
        "postgres",
        "psql",
        &[&format!(
            "DO $$BEGIN ALTER ROLE {APP_ROLE} PASSWORD '{do_pw}'; END$$"
        )],
    );
    let failed = pg.psql(
        "postgres",
        "psql",
        &[&format!("ALTER ROLE nosuch_role PASSWORD '{err_pw}'")],
    );
    assert!(
        !failed.status.success(),
        "ALTER ROLE of a missing role must fail"
    );
}
