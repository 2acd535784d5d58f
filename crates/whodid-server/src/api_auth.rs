//! Who may read: bearer tokens for the query API (and `/metrics`).
//!
//! The embedded default has static tokens in `DATA/keys/api-tokens`, one
//! `NAME sha256:HEX` per line: only the SHA-256 of each token is stored, so
//! a copy of the file (a backup, a world-readable mistake) lets nobody in.
//! Tokens are made by `whodid token create` (which prints the token once)
//! or hashed by `whodid token hash`. A file of the older form (`NAME TOKEN`,
//! the token in clear) is rewritten with the hashes when it is read, and
//! the tokens keep working. OIDC and roles come with access control.
//! A request without a known token gets 401 before any handler runs; a
//! known one carries its name on as a [`Principal`] for the handlers (and
//! the access stream). Tokens are compared by hash, every known hash in
//! constant time.

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

/// How a stored token hash starts.
pub const HASH_PREFIX: &str = "sha256:";

/// Token hashes and their names.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens {
    entries: Vec<([u8; 32], String)>,
}

/// What [`ApiTokens::load`] found besides the tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The file does not exist (no token: nobody can read).
    pub missing: bool,
    /// Tokens found in clear and replaced by their hashes in the file.
    pub rehashed: usize,
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
    /// A line that is not `NAME sha256:HEX` (or an old `NAME TOKEN`).
    #[error("{path}:{line}: expected `NAME sha256:<64 hex digits>` (make one with `whodid token create NAME` or `whodid token hash`)")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// A token name that cannot be written as a line's first word.
    #[error("token name {0:?}: use letters, digits, '-', '_', '.', '@'")]
    BadName(String),
}

/// The stored form of `token`: `sha256:` and 64 hex digits.
pub fn hash_token(token: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{HASH_PREFIX}{hex}")
}

/// A new random token (192 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<64 hex digits>` → the hash.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix(HASH_PREFIX)?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

const FILE_HEADER: &str =
    "# NAME sha256:HEX: bearer tokens of whodid's query API and /metrics (only their SHA-256)\n";

impl ApiTokens {
    /// Reads `path` (missing: no tokens). Tokens stored in clear by older
    /// versions are replaced in the file by their hashes.
    pub fn load(path: &Path) -> Result<(ApiTokens, LoadReport), ApiTokenError> {
        let io = |source| ApiTokenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut report = LoadReport::default();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.missing = true;
                return Ok((ApiTokens::default(), report));
            }
            Err(e) => return Err(io(e)),
        };
        let mut tokens = ApiTokens::default();
        let mut rewritten = String::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                rewritten.push_str(line);
                rewritten.push('\n');
                continue;
            }
            let malformed = || ApiTokenError::Malformed {
                path: path.to_owned(),
                line: i + 1,
            };
            let (name, secret) = trimmed
                .split_once(char::is_whitespace)
                .map(|(n, t)| (n, t.trim()))
                .ok_or_else(malformed)?;
            if let Some(hash) = parse_hash(secret) {
                tokens.add_hash(name, hash);
                rewritten.push_str(line);
            } else if secret.starts_with(HASH_PREFIX) || secret.len() < 16 {
                return Err(malformed());
            } else {
                tokens.add(name, secret);
                report.rehashed += 1;
                rewritten.push_str(&format!("{name} {}", hash_token(secret)));
            }
            rewritten.push('\n');
        }
        if report.rehashed > 0 {
            write_file(path, &rewritten)?;
        }
        Ok((tokens, report))
    }

    /// Makes a new token for `name`, appends its hash to `path` (created
    /// owner-only when missing) and returns the token, which is shown once.
    pub fn create(path: &Path, name: &str) -> Result<String, ApiTokenError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !valid {
            return Err(ApiTokenError::BadName(name.to_owned()));
        }
        let io = |source| ApiTokenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FILE_HEADER.to_owned(),
            Err(e) => return Err(io(e)),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let token = new_token();
        text.push_str(&format!("{name} {}\n", hash_token(&token)));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        write_file(path, &text)?;
        Ok(token)
    }

    /// `token` is `name`'s.
    pub fn add(&mut self, name: &str, token: &str) {
        self.add_hash(name, Sha256::digest(token.trim().as_bytes()).into());
    }

    /// A token whose SHA-256 is `hash` is `name`'s.
    pub fn add_hash(&mut self, name: &str, hash: [u8; 32]) {
        self.entries.push((hash, name.to_owned()));
    }

    /// No token is known: nobody can read.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn name_of(&self, authorization: Option<&str>) -> Option<&String> {
        let (scheme, token) = authorization?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        // Every entry is compared, each without an early exit.
        let mut found = None;
        for (known, name) in &self.entries {
            if constant_time_eq(known, &hash) && found.is_none() {
                found = Some(name);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

fn write_file(path: &Path, text: &str) -> Result<(), ApiTokenError> {
    crate::pki::write_private(path, text.as_bytes(), 0o600).map_err(|e| ApiTokenError::Io {
        path: path.to_owned(),
        source: match e {
            crate::pki::PkiError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        },
    })
}

/// `router` with only `path` (e.g. `/metrics`) behind [`require_reader`];
/// every other request passes as before.
pub fn guard_path(
    router: axum::Router,
    path: &'static str,
    tokens: Arc<ApiTokens>,
) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let tokens = Arc::clone(&tokens);
            async move {
                if request.uri().path() == path {
                    require_reader(tokens, request, next).await
                } else {
                    next.run(request).await
                }
            }
        },
    ))
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
                serde_json::json!({"error": "a bearer token is needed (`whodid token create NAME` makes one)"}),
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashes_are_stored_and_clear_tokens_are_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-tokens");
        let (tokens, report) = ApiTokens::load(&path).unwrap();
        assert!(tokens.is_empty() && report.missing);
        let token = ApiTokens::create(&path, "ops").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token), "{text}");
        assert!(text.contains(&hash_token(&token)), "{text}");
        let (tokens, report) = ApiTokens::load(&path).unwrap();
        assert_eq!(report.rehashed, 0);
        let bearer = format!("Bearer {token}");
        assert_eq!(tokens.name_of(Some(&bearer)).unwrap(), "ops");
        assert!(tokens.name_of(Some("Bearer nope-nope-nope-nope")).is_none());

        let old = "0123456789abcdef0123";
        std::fs::write(&path, format!("# old\nadmin {old}\n")).unwrap();
        let (tokens, report) = ApiTokens::load(&path).unwrap();
        assert_eq!(report.rehashed, 1);
        assert_eq!(
            tokens.name_of(Some(&format!("Bearer {old}"))).unwrap(),
            "admin"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(old) && text.starts_with("# old\nadmin sha256:"),
            "{text}"
        );

        std::fs::write(&path, "admin sha256:abc\n").unwrap();
        assert!(matches!(
            ApiTokens::load(&path),
            Err(ApiTokenError::Malformed { line: 1, .. })
        ));
        assert!(ApiTokens::create(&path, "two words").is_err());
    }
}
