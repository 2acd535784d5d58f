//! Who may read: bearer tokens for the query API.
//!
//! The embedded default has static tokens (`DATA/keys/api-tokens`, one
//! `NAME TOKEN` per line, made with one `admin` token on first start and
//! readable only by its owner); OIDC and roles come with access control.
//! A request without a known token gets 401 before any handler runs; a
//! known one carries its name on as a [`Principal`] for the handlers (and
//! the access stream).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use whodid_query::http::Principal;

/// The name a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader(pub String);

/// Token hashes → names.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens {
    by_hash: HashMap<[u8; 32], String>,
}

/// The token file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiTokenError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line that is not `NAME TOKEN`.
    #[error("{path}:{line}: expected `NAME TOKEN` (a token of at least 16 characters)")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
}

impl ApiTokens {
    /// Reads `path`, creating it with one `admin` token when missing.
    /// Returns the tokens and, when it was created, the new token.
    pub fn load_or_create(path: &Path) -> Result<(ApiTokens, Option<String>), ApiTokenError> {
        let io = |source| ApiTokenError::Io {
            path: path.to_owned(),
            source,
        };
        let (text, created) = match std::fs::read_to_string(path) {
            Ok(text) => (text, None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 24];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let text =
                    format!("# NAME TOKEN: bearer tokens for whodid's query API\nadmin {token}\n");
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                crate::pki::write_private(path, text.as_bytes(), 0o600).map_err(|e| match e {
                    crate::pki::PkiError::Io { source, .. } => io(source),
                    other => io(std::io::Error::other(other.to_string())),
                })?;
                (text, Some(token))
            }
            Err(e) => return Err(io(e)),
        };
        let mut tokens = ApiTokens::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(char::is_whitespace) {
                Some((name, token)) if token.trim().len() >= 16 => tokens.add(name, token.trim()),
                _ => {
                    return Err(ApiTokenError::Malformed {
                        path: path.to_owned(),
                        line: i + 1,
                    })
                }
            }
        }
        Ok((tokens, created))
    }

    /// `token` is `name`'s.
    pub fn add(&mut self, name: &str, token: &str) {
        self.by_hash
            .insert(Sha256::digest(token.as_bytes()).into(), name.to_owned());
    }

    fn name_of(&self, authorization: Option<&str>) -> Option<&String> {
        let (scheme, token) = authorization?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        self.by_hash.get(&hash)
    }
}

/// The middleware: 401 without a known token; the reader's name in the
/// request extensions otherwise.
pub async fn require_reader(tokens: Arc<ApiTokens>, mut request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match tokens.name_of(authorization).cloned() {
        Some(name) => {
            request.extensions_mut().insert(Reader(name.clone()));
            request.extensions_mut().insert(Principal(name));
            next.run(request).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(
                serde_json::json!({"error": "a bearer token from DATA/keys/api-tokens is needed"}),
            ),
        )
            .into_response(),
    }
}
