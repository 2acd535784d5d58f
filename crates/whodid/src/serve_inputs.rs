//! Everything the configuration of `whodid serve` names, read and checked
//! before the listener is bound and the data directory opened: policies,
//! bearer-token files, TLS files, key registries and pgaudit settings of the
//! file sources, the query API's tokens. A mistake in any of them stops the
//! start with a message naming the file and the field, before anything is
//! created or held.

use std::collections::HashMap;

use anyhow::Context;
use whodid_ingest::tail_source::ParserFactory;
use whodid_policy::evaluate::Evaluator;
use whodid_server::api_auth::ApiTokens;
use whodid_server::auth::Authenticator;

use crate::config::Config;
use crate::sources;

/// What the configuration's files hold.
pub(crate) struct Inputs {
    /// Each cluster's compiled policy, by name.
    pub(crate) policies: HashMap<String, Option<Evaluator>>,
    /// Client-certificate names and bearer tokens → clusters.
    pub(crate) auth: Authenticator,
    /// `tls.cert` and `tls.key`, when given.
    pub(crate) tls_pair: Option<(String, String)>,
    /// `tls.client_ca`, when given.
    pub(crate) client_ca: Option<String>,
    /// The parser of each of `sources[]`, in order.
    pub(crate) parsers: Vec<ParserFactory>,
    /// The query API's (and `/metrics`') tokens.
    pub(crate) tokens: ApiTokens,
}

impl Inputs {
    /// Reads and checks every file the configuration names.
    pub(crate) fn read(config: &Config) -> anyhow::Result<Inputs> {
        let mut auth = Authenticator::default();
        let mut policies = HashMap::new();
        for (i, cluster) in config.clusters.iter().enumerate() {
            let field = format!("clusters[{i}] ({})", cluster.name);
            let policy = match &cluster.policy {
                Some(path) => Some(Evaluator::new(
                    &crate::policy::load::load_valid_policy(path)
                        .with_context(|| format!("{field}.policy"))?,
                )),
                None => None,
            };
            policies.insert(cluster.name.clone(), policy);
            let names = cluster
                .client_cert_names
                .clone()
                .unwrap_or_else(|| vec![cluster.name.clone()]);
            for name in &names {
                auth.add_common_name(name, &cluster.name)
                    .with_context(|| format!("{field}.client_cert_names"))?;
            }
            for file in &cluster.bearer_token_files {
                let token = std::fs::read_to_string(file).with_context(|| {
                    format!("{field}.bearer_token_files: reading {}", file.display())
                })?;
                if token.trim().is_empty() {
                    anyhow::bail!("{field}.bearer_token_files: {} is empty", file.display());
                }
                // The token's hash (`whodid token hash`), or the token itself.
                match whodid_server::api_auth::parse_hash(token.trim()) {
                    Some(hash) => auth.add_token_hash(hash, &cluster.name),
                    None => auth.add_token(&token, &cluster.name),
                }
                .with_context(|| format!("{field}.bearer_token_files"))?;
            }
        }
        let read = |field: &str, path: &std::path::Path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("{field}: reading {}", path.display()))
        };
        let tls_pair = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Some((read("tls.cert", cert)?, read("tls.key", key)?)),
            _ => None,
        };
        let client_ca = match &config.tls.client_ca {
            Some(path) => Some(read("tls.client_ca", path)?),
            None => None,
        };
        let mut parsers = Vec::new();
        for (i, source) in config.sources.iter().enumerate() {
            parsers.push(
                sources::parser_factory(source)
                    .with_context(|| format!("sources[{i}] ({})", source.name))?,
            );
        }
        let tokens_path = config.api_tokens_path();
        let (tokens, report) = ApiTokens::load(&tokens_path).context("index.api_tokens")?;
        if report.rehashed > 0 {
            tracing::warn!(file = %tokens_path.display(), tokens = report.rehashed, "API tokens were stored in clear: replaced by their SHA-256");
            eprintln!(
                "whodid: warning: {} held {} API tokens in clear: replaced by their SHA-256 (the tokens keep working)",
                tokens_path.display(),
                report.rehashed
            );
        }
        Ok(Inputs {
            policies,
            auth,
            tls_pair,
            client_ca,
            parsers,
            tokens,
        })
    }
}
