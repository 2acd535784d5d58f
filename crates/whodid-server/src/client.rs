//! A webhook client that speaks to whodid like the kube-apiserver does:
//! HTTPS POST of an `EventList` body, with a client certificate or a bearer
//! token, over HTTP/1.1 (what the apiserver speaks) or HTTP/2 (ALPN `h2`,
//! many concurrent streams on one connection). Used by the tests and the
//! load benchmark; `whodid` itself never sends.

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

/// One kept-alive HTTPS connection: HTTP/1.1, or HTTP/2 (where
/// [`WebhookClient::stream`] gives more handles onto the same connection,
/// each request its own stream).
#[derive(Debug)]
pub struct WebhookClient {
    sender: Sender,
    authority: String,
    token: Option<String>,
}

#[derive(Debug)]
enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
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

    /// A TLS connection to `addr` and nothing on top: for tests that write
    /// the HTTP bytes themselves.
    pub async fn connect_tls(
        &self,
        addr: &str,
        server_name: &str,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
        tls_connect(&self.tls, addr, server_name).await
    }
}

async fn tls_connect(
    tls: &Arc<rustls::ClientConfig>,
    addr: &str,
    server_name: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
    let tcp = TcpStream::connect(addr).await.map_err(transport)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(server_name.to_owned()).map_err(transport)?;
    TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .map_err(transport)
}

impl WebhookClient {
    /// Connects to `addr` (`127.0.0.1:8443`), checking the server certificate for `server_name`.
    pub async fn connect(
        config: &ClientConfig,
        addr: &str,
        server_name: &str,
        token: Option<String>,
    ) -> Result<WebhookClient, ClientError> {
        let tls = tls_connect(&config.tls, addr, server_name).await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(transport)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(WebhookClient {
            sender: Sender::Http1(sender),
            authority: addr.to_owned(),
            token,
        })
    }

    /// Connects offering only `h2` in ALPN and speaks HTTP/2; fails if the
    /// server does not choose `h2`.
    pub async fn connect_http2(
        config: &ClientConfig,
        addr: &str,
        server_name: &str,
        token: Option<String>,
    ) -> Result<WebhookClient, ClientError> {
        let mut tls_config = (*config.tls).clone();
        tls_config.alpn_protocols = vec![b"h2".to_vec()];
        let tls = tls_connect(&Arc::new(tls_config), addr, server_name).await?;
        let chosen = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        if chosen.as_deref() != Some(b"h2".as_slice()) {
            return Err(ClientError::Transport(format!(
                "the server did not choose h2 in ALPN (chose {:?})",
                chosen.map(|p| String::from_utf8_lossy(&p).into_owned())
            )));
        }
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .map_err(transport)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(WebhookClient {
            sender: Sender::Http2(sender),
            authority: addr.to_owned(),
            token,
        })
    }

    /// Another handle onto this HTTP/2 connection (its requests are
    /// concurrent streams); `None` for HTTP/1.1, one request at a time.
    pub fn stream(&self) -> Option<WebhookClient> {
        match &self.sender {
            Sender::Http1(_) => None,
            Sender::Http2(sender) => Some(WebhookClient {
                sender: Sender::Http2(sender.clone()),
                authority: self.authority.clone(),
                token: self.token.clone(),
            }),
        }
    }

    /// The protocol spoken: `http/1.1` or `h2`.
    pub fn protocol(&self) -> &'static str {
        match self.sender {
            Sender::Http1(_) => "http/1.1",
            Sender::Http2(_) => "h2",
        }
    }

    /// A request to `path` with the host named as the protocol wants it:
    /// a `host` header for HTTP/1.1, the `:authority` (an absolute URI) for HTTP/2.
    fn request(&self, method: hyper::Method, path: &str) -> hyper::http::request::Builder {
        let builder = hyper::Request::builder().method(method);
        match self.sender {
            Sender::Http1(_) => builder.uri(path).header("host", &self.authority),
            Sender::Http2(_) => builder.uri(format!("https://{}{path}", self.authority)),
        }
    }

    async fn ready(&mut self) -> Result<(), ClientError> {
        match &mut self.sender {
            Sender::Http1(sender) => sender.ready().await.map_err(transport),
            Sender::Http2(sender) => sender.ready().await.map_err(transport),
        }
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Result<Answer, ClientError> {
        self.ready().await?;
        let mut request = self.request(hyper::Method::GET, path);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::new())).map_err(transport)?;
        self.exchange(request).await
    }

    /// POSTs `body` to `path` as the apiserver does.
    pub async fn post(
        &mut self,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ClientError> {
        self.ready().await?;
        let mut request = self
            .request(hyper::Method::POST, path)
            .header(
                "user-agent",
                match self.sender {
                    Sender::Http1(_) => "Go-http-client/1.1",
                    Sender::Http2(_) => "Go-http-client/2.0",
                },
            )
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
        let response = match &mut self.sender {
            Sender::Http1(sender) => sender.send_request(request).await,
            Sender::Http2(sender) => sender.send_request(request).await,
        }
        .map_err(transport)?;
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
