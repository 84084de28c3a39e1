//! `ilias-chat --health`: asks the running server, at the address and port of
//! server.cfg, for the status of every client (`/backend/Status/<name>` with that
//! client's credentials) and says, one line per client, whether its chat works.
//!
//! Over https the server's certificate is accepted only if it is the very certificate
//! server.cfg names (the probe talks to loopback, where the name in the certificate
//! cannot match).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ClientStatus;
use crate::config::{ClientConfig, Protocol, ServerConfig, TlsFiles};

/// How long the whole exchange with the server may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The answer for one client.
#[derive(Debug)]
pub enum Outcome {
    /// The server answered with the client's status (healthy or not).
    Status(Box<ClientStatus>),
    /// The server refused the credentials of client.cfg (it runs another
    /// configuration than the files say).
    Denied,
    /// No usable answer: not running, wrong port, not ilias-chat.
    NoAnswer(String),
}

impl Outcome {
    /// Whether this client's chat works.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Outcome::Status(status) if status.healthy)
    }

    /// One line for the terminal.
    pub fn describe(&self, client: &str) -> String {
        match self {
            Outcome::Status(s) if s.healthy => format!(
                "client {client}: healthy (database {} over {}, ILIAS {} {}, {} + {} sockets, \
                 {} writes queued, ilias-chat {}, up {} s)",
                s.database.state,
                s.database.route,
                s.ilias.generation,
                s.ilias.source,
                s.sockets.room,
                s.sockets.im,
                s.write_queue.depth,
                s.version,
                s.uptime_seconds
            ),
            Outcome::Status(s) => {
                format!("client {client}: UNHEALTHY: {}", s.problems.join("; "))
            }
            Outcome::Denied => format!(
                "client {client}: UNHEALTHY: the server refused the credentials of client.cfg \
                 (reload it: systemctl reload ilias-chat)"
            ),
            Outcome::NoAnswer(why) => format!("client {client}: UNHEALTHY: {why}"),
        }
    }
}

/// Asks the server of `server` for the status of `client`.
pub async fn probe(server: &ServerConfig, client: &ClientConfig) -> Outcome {
    let host = probe_host(&server.address);
    let target = format!("{}:{}", host_for_url(&host), server.port);
    match tokio::time::timeout(TIMEOUT, exchange(server, client, &host, &target)).await {
        Ok(Ok((200 | 503, body))) => match serde_json::from_str::<ClientStatus>(&body) {
            Ok(status) => Outcome::Status(Box::new(status)),
            Err(_) if body.contains("\"status\":403") => Outcome::Denied,
            Err(error) => Outcome::NoAnswer(format!("{target} answered something else ({error})")),
        },
        Ok(Ok((404, _))) => Outcome::NoAnswer(format!(
            "{target} does not know the status route (an older ilias-chat, or another server)"
        )),
        Ok(Ok((code, _))) => Outcome::NoAnswer(format!("{target} answered HTTP {code}")),
        Ok(Err(error)) => Outcome::NoAnswer(format!("no answer from {target}: {error}")),
        Err(_) => Outcome::NoAnswer(format!("no answer from {target} within {TIMEOUT:?}")),
    }
}

/// Where to reach a server that listens on `address`: a wildcard address is reached
/// on loopback.
fn probe_host(address: &str) -> String {
    match address.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.to_string(),
        Ok(ip) => ip.to_string(),
        Err(_) if address.is_empty() => Ipv4Addr::LOCALHOST.to_string(),
        Err(_) => address.to_string(),
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

async fn exchange(
    server: &ServerConfig,
    client: &ClientConfig,
    host: &str,
    target: &str,
) -> std::io::Result<(u16, String)> {
    let stream = TcpStream::connect((host, server.port)).await?;
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", client.auth.key, client.auth.secret));
    let request = format!(
        "GET /backend/Status/{} HTTP/1.1\r\nHost: {target}\r\nAuthorization: Basic {credentials}\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n",
        client.name
    );
    match &server.protocol {
        Protocol::Http => send(stream, &request).await,
        Protocol::Https(files) => {
            let connector = pinned_connector(files)?;
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let stream = connector.connect(name, stream).await?;
            send(stream, &request).await
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> std::io::Result<(u16, String)> {
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify; what was read counts.
    if let Err(error) = stream.read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(error);
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

/// Joins the chunks of a chunked body.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

fn pinned_connector(files: &TlsFiles) -> std::io::Result<tokio_rustls::TlsConnector> {
    let expected = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", files.cert.display())))?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{}: no certificate", files.cert.display())))?
        .map_err(|e| std::io::Error::other(format!("{}: {e}", files.cert.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { expected, provider }))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts exactly one certificate: the one server.cfg names.
#[derive(Debug)]
struct Pinned {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the one server.cfg names".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_probed_on_loopback() {
        assert_eq!(probe_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(probe_host("::"), "::1");
        assert_eq!(probe_host("[::]"), "::1");
        assert_eq!(probe_host("192.0.2.1"), "192.0.2.1");
        assert_eq!(probe_host("chat.example"), "chat.example");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"), "{\"a\":1}");
    }
}
