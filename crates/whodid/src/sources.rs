//! Building the parsers of auth-log and PostgreSQL sources from their
//! configuration (shared by `whodid serve` and `whodid ingest`).
//!
//! Key files: a `keys.yaml` registry, or an `authorized_keys` file whose
//! account is written `ACCOUNT=PATH` or taken from the path
//! (`/home/ubuntu/.ssh/authorized_keys` → `ubuntu`, `/root/...` → `root`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use whodid_ingest::line_source::LineParser;
use whodid_ingest::tail_source::ParserFactory;
use whodid_model::Stream;
use whodid_parse::authlog::keys::KeyRegistry;
use whodid_parse::authlog::{AuthLogConfig, AuthLogParser};
use whodid_parse::pgaudit::{PgAuditFilter, PgAuditParser, PgLogConfig, PgLogFormat};

use crate::config::SourceConfig;

/// Reads key files into one registry.
pub(crate) fn key_registry(files: &[PathBuf]) -> anyhow::Result<KeyRegistry> {
    let mut registry = KeyRegistry::new();
    for spec in files {
        let (account, path) = split_key_spec(spec);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading key file {}", path.display()))?;
        let is_authorized_keys = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("authorized_keys"));
        if is_authorized_keys || account.is_some() {
            let account = account.or_else(|| account_of(&path)).with_context(|| {
                format!(
                    "{}: cannot tell whose authorized_keys this is: write ACCOUNT={}",
                    path.display(),
                    path.display()
                )
            })?;
            let (added, errors) = registry.add_authorized_keys(&text, &account);
            for error in errors {
                eprintln!("whodid: warning: {}: {error}", path.display());
            }
            tracing::info!(file = %path.display(), added, "keys read");
        } else {
            let added = registry
                .add_yaml(&text)
                .with_context(|| format!("{}: not a key registry", path.display()))?;
            tracing::info!(file = %path.display(), added, "keys read");
        }
    }
    Ok(registry)
}

/// `ACCOUNT=PATH` → (account, path); a plain path → (None, path).
pub(crate) fn split_key_spec(spec: &Path) -> (Option<String>, PathBuf) {
    let text = spec.display().to_string();
    match text.split_once('=') {
        Some((account, path)) if !account.contains('/') => {
            (Some(account.to_owned()), PathBuf::from(path))
        }
        _ => (None, spec.to_owned()),
    }
}

/// `/home/ubuntu/.ssh/authorized_keys` → `ubuntu`; `/root/.ssh/…` → `root`.
fn account_of(path: &Path) -> Option<String> {
    let ssh = path.parent()?;
    if ssh.file_name()? != ".ssh" {
        return None;
    }
    ssh.parent()?.file_name()?.to_str().map(str::to_owned)
}

/// The PostgreSQL log configuration of a source.
pub(crate) fn pg_config(format: PgLogFormat, prefix: Option<&str>, host: &str) -> PgLogConfig {
    let mut config = PgLogConfig::new(format);
    if let Some(prefix) = prefix {
        prefix.clone_into(&mut config.log_line_prefix);
    }
    host.clone_into(&mut config.host);
    config
}

/// A factory of parsers for a configured file source.
pub(crate) fn parser_factory(source: &SourceConfig) -> anyhow::Result<ParserFactory> {
    match source.stream {
        Stream::AuthLog => {
            let registry =
                key_registry(&source.keys).with_context(|| format!("source {}", source.name))?;
            Ok(ParserFactory(Arc::new(move || {
                LineParser::AuthLog(Box::new(AuthLogParser::new(
                    AuthLogConfig::new(jiff::Timestamp::now()),
                    registry.clone(),
                )))
            })))
        }
        Stream::PgAudit => {
            let format = source.format.with_context(|| {
                format!("source {}: a pgaudit source needs `format`", source.name)
            })?;
            let config = pg_config(format, source.log_line_prefix.as_deref(), &source.host);
            // Check the configuration once, here, with a clear message.
            PgAuditParser::new(&config, jiff::Timestamp::now())
                .with_context(|| format!("source {}", source.name))?;
            let filter = source.keep.clone().unwrap_or_default();
            Ok(ParserFactory(Arc::new(move || pg_parser(&config, &filter))))
        }
        other => anyhow::bail!(
            "source {}: stream {other} is not a file source",
            source.name
        ),
    }
}

/// A pgaudit parser for a configuration already checked.
pub(crate) fn pg_parser(config: &PgLogConfig, filter: &PgAuditFilter) -> LineParser {
    let parser = match PgAuditParser::new(config, jiff::Timestamp::now()) {
        Ok(parser) => parser,
        // Checked before; a default configuration cannot fail.
        Err(_) => {
            match PgAuditParser::new(&PgLogConfig::new(config.format), jiff::Timestamp::now()) {
                Ok(parser) => parser,
                Err(_) => unreachable_parser(),
            }
        }
    };
    LineParser::PgAudit(Box::new(parser), Box::new(filter.clone()))
}

fn unreachable_parser() -> PgAuditParser {
    // PgLogConfig::new has no zones to fail on.
    #[allow(clippy::expect_used)]
    PgAuditParser::new(
        &PgLogConfig::new(PgLogFormat::Jsonlog),
        jiff::Timestamp::now(),
    )
    .expect("default pg config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_from_paths() {
        assert_eq!(
            account_of(Path::new("/home/ubuntu/.ssh/authorized_keys")).as_deref(),
            Some("ubuntu")
        );
        assert_eq!(
            account_of(Path::new("/root/.ssh/authorized_keys2")).as_deref(),
            Some("root")
        );
        assert_eq!(account_of(Path::new("/etc/keys/authorized_keys")), None);
    }
}
