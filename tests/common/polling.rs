//! [`Polling`]: a minimal Engine.IO 4 polling client that joins a socket.io namespace
//! and keeps the session alive (answers pings) until dropped.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::http_at;

/// An Engine.IO 4 polling session joined to one socket.io namespace. A background task
/// keeps a long-poll request open and answers pings, so the session (and a TCP
/// connection) stays alive until the value is dropped.
pub struct Polling {
    pub sid: String,
    pub namespace: String,
    keepalive: tokio::task::JoinHandle<()>,
}

const EIO_PATH: &str = "/socket.io/?EIO=4&transport=polling";

impl Polling {
    /// Handshake, then `40<namespace>,`; `Err` with the server's answer when the
    /// namespace connect is refused (`44…`) or anything else goes wrong.
    pub async fn connect(addr: SocketAddr, namespace: &str) -> Result<Polling, String> {
        let t = Duration::from_secs(10);
        let r = http_at(addr, "GET", EIO_PATH, None, None, t).await?;
        if r.status != 200 || !r.body.starts_with('0') {
            return Err(format!("handshake: HTTP {} {:?}", r.status, r.body));
        }
        let open: Value = serde_json::from_str(&r.body[1..])
            .map_err(|e| format!("handshake body {:?}: {e}", r.body))?;
        let sid = open["sid"]
            .as_str()
            .ok_or_else(|| format!("handshake without sid: {}", r.body))?
            .to_owned();
        let path = format!("{EIO_PATH}&sid={sid}");
        let r = http_at(
            addr,
            "POST",
            &path,
            None,
            Some(&format!("40{namespace},")),
            t,
        )
        .await?;
        if r.status != 200 {
            return Err(format!(
                "namespace connect POST: HTTP {} {:?}",
                r.status, r.body
            ));
        }
        let deadline = Instant::now() + t;
        loop {
            let r = http_at(addr, "GET", &path, None, None, Duration::from_secs(40)).await?;
            if r.status != 200 {
                return Err(format!("poll: HTTP {} {:?}", r.status, r.body));
            }
            for packet in r.body.split('\u{1e}') {
                if packet.starts_with(&format!("40{namespace},")) {
                    let keepalive = tokio::spawn(keepalive(addr, path.clone()));
                    return Ok(Polling {
                        sid,
                        namespace: namespace.to_owned(),
                        keepalive,
                    });
                }
                if packet.starts_with(&format!("44{namespace},")) {
                    return Err(format!("namespace {namespace} refused: {packet}"));
                }
                if packet == "2" {
                    let _ = http_at(addr, "POST", &path, None, Some("3"), t).await;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer to the connect of {namespace}"));
            }
        }
    }
}

async fn keepalive(addr: SocketAddr, path: String) {
    loop {
        let Ok(r) = http_at(addr, "GET", &path, None, None, Duration::from_secs(60)).await else {
            return;
        };
        if r.status != 200 {
            return;
        }
        for packet in r.body.split('\u{1e}') {
            if packet == "2" {
                let _ = http_at(
                    addr,
                    "POST",
                    &path,
                    None,
                    Some("3"),
                    Duration::from_secs(10),
                )
                .await;
            } else if packet == "1" {
                return;
            }
        }
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.keepalive.abort();
    }
}
