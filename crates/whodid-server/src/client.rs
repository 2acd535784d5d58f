//! A webhook client that speaks to whodid like the kube-apiserver does:
//! HTTPS POST of an `EventList` body, with a client certificate or a bearer
//! token. Used by the tests and the load benchmark; `whodid` itself never
//! sends.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A client problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting, the handshake, or the exchange failed.
    #[error("{0}")]
    Transport(String),
    /// The PEM inputs.
    #[error("{0}")]
    Pem(String),
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// `Retry-After`, if given.
    pub retry_after: Option<String>,
}

/// One kept-alive HTTPS/1.1 connection.
#[derive(Debug)]
pub struct WebhookClient {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
    token: Option<String>,
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    tls: Arc<rustls::ClientConfig>,
}

impl ClientConfig {
    /// Trusts `ca_pem`; presents `identity` (certificate PEM, key PEM) if given.
    pub fn new(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| ClientError::Pem(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Pem(e.to_string()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(transport)?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain: Result<Vec<_>, _> =
                    CertificateDer::pem_slice_iter(cert.as_bytes()).collect();
                let chain = chain.map_err(|e| ClientError::Pem(e.to_string()))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| ClientError::Pem(e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(transport)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ClientConfig {
            tls: Arc::new(config),
        })
    }
}

impl WebhookClient {
    /// Connects to `addr` (`127.0.0.1:8443`), checking the server certificate for `server_name`.
    pub async fn connect(
        config: &ClientConfig,
        addr: &str,
        server_name: &str,
        token: Option<String>,
    ) -> Result<WebhookClient, ClientError> {
        let tcp = TcpStream::connect(addr).await.map_err(transport)?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(server_name.to_owned()).map_err(transport)?;
        let tls = TlsConnector::from(Arc::clone(&config.tls))
            .connect(name, tcp)
            .await
            .map_err(transport)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(transport)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(WebhookClient {
            sender,
            authority: addr.to_owned(),
            token,
        })
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Result<Answer, ClientError> {
        self.sender.ready().await.map_err(transport)?;
        let request = hyper::Request::get(path)
            .header("host", &self.authority)
            .body(Full::new(Bytes::new()))
            .map_err(transport)?;
        self.exchange(request).await
    }

    /// POSTs `body` to `path` as the apiserver does.
    pub async fn post(
        &mut self,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ClientError> {
        self.sender.ready().await.map_err(transport)?;
        let mut request = hyper::Request::post(path)
            .header("host", &self.authority)
            .header("user-agent", "Go-http-client/1.1")
            .header("accept", "application/json, */*")
            .header("content-type", "application/json")
            .header("accept-encoding", "gzip");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).map_err(transport)?;
        self.exchange(request).await
    }

    async fn exchange(
        &mut self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<Answer, ClientError> {
        let response = self.sender.send_request(request).await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(transport)?
            .to_bytes()
            .to_vec();
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }
}
