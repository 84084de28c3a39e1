//! A minimal HTTP/1.1 client that talks to the backend API exactly like ILIAS PHP does
//! (`Connection: close`, JSON content type, Basic auth), to 127.0.0.1 or any address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::process::Daemon;

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Response headers in arrival order; lookups are case-insensitive.
#[derive(Clone, Debug, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// First value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed HTTP response.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): HTTP {} {:?}",
                self.status, self.body
            )
        })
    }
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// GET like ILIAS PHP: `Connection: close`, `Content-Type: application/json;
/// charset=utf-8`, Basic auth when given. Panics on transport errors.
pub async fn http_get(port: u16, path: &str, auth: Option<(&str, &str)>) -> (u16, Headers, String) {
    let r = ilias_request(port, "GET", path, auth).await;
    (r.status, r.headers, r.body)
}

/// Like [`http_get`] with any method (e.g. `HEAD`), returning the whole response.
pub async fn ilias_request(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> HttpResponse {
    let authz = auth.map(|(u, p)| basic_auth(u, p));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &authz {
        headers.push(("Authorization", a.as_str()));
    }
    http_request(port, method, path, &headers)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// One request on a fresh connection to 127.0.0.1:`port` with `Host`, `Connection:
/// close` and the JSON `Content-Type` PHP sends, plus `extra` headers verbatim.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<HttpResponse, String> {
    send(v4(port), method, path, extra, None, HTTP_TIMEOUT).await
}

/// One request on a fresh connection to `addr`: `Host`, `Connection: close`, the JSON
/// `Content-Type` PHP sends (`text/plain` with a `Content-Length` when there is a body,
/// as a browser's polling transport sends), then `headers` verbatim.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let host = match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let content_type = match body {
        None => "application/json; charset=utf-8",
        Some(_) => "text/plain;charset=UTF-8",
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    let raw = tokio::time::timeout(timeout, exchange(addr, &req))
        .await
        .map_err(|_| {
            format!(
                "{method} {path} on {addr}: no complete response within {timeout:?} \
                 (is Connection: close honoured?)"
            )
        })??;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

/// Sends `req` on a fresh connection to `addr` and reads until the server closes it.
async fn exchange(addr: SocketAddr, req: &str) -> Result<Vec<u8>, String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(buf)
}

fn parse_response(raw: &[u8], head: bool) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(raw)))?;
    let head_text = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let headers = Headers(headers);
    let rest = &raw[end + 4..];
    let body: Vec<u8> = if head || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad content-length {len}"))?;
        if rest.len() < len {
            return Err(format!(
                "body shorter ({}) than content-length {len}",
                rest.len()
            ));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).map_err(|e| format!("body not UTF-8: {e}"))?,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size line")?;
        let size_line = std::str::from_utf8(&data[..nl]).map_err(|e| e.to_string())?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_line:?}"))?;
        data = &data[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// One request on a fresh connection to `addr` (`Connection: close`, the JSON content
/// type ILIAS PHP sends, Basic auth when given, a body when given).
pub async fn http_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let authorization = auth.map(|(u, p)| basic_auth(u, p));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    send(addr, method, path, &headers, body, timeout).await
}

/// `127.0.0.1:port`.
pub fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `[::1]:port`.
pub fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))
}

/// GET with a 10 s limit; `Err` on transport errors.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Result<HttpResponse, String> {
    http_at(addr, "GET", path, auth, None, Duration::from_secs(10)).await
}

/// [`wait_http_200`] that panics with `what`, the last error and `d`'s output.
pub async fn expect_http_200(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    d: &Daemon,
    what: &str,
) {
    if let Err(e) = wait_http_200(addr, path, timeout).await {
        panic!("{what} ({e})\n{}", d.logs());
    }
}

/// GETs `path` until it answers 200 or `timeout` passes; the last error otherwise.
pub async fn wait_http_200(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http_at(addr, "GET", path, None, None, Duration::from_secs(3)).await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("HTTP {} {}", r.status, r.body),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True when nothing accepts TCP connections on `addr`.
pub async fn nothing_listens(addr: SocketAddr) -> bool {
    match tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => false,
        Ok(Err(_)) => true,
        // A SYN that is never answered is not a listener either.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let r = parse_response(raw, false).unwrap();
        assert_eq!(r.body, "{\"a\":1}");
    }
}
