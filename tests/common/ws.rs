//! [`Ws`]: a minimal websocket client (RFC 6455, text frames) for Engine.IO 4 over
//! websocket, light enough to hold thousands of connections from one test process.
//! Also used by `benches/edge.rs`.

use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The Engine.IO 4 websocket path of the default socket.io path.
pub const EIO_WS_PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// The rest of the head of a browser's websocket request (Chromium on an ILIAS page,
/// through an nginx that forwards), so that what the server keeps of a real browser's
/// head is measured with the benches' browsers too.
const BROWSER_HEADERS: &str = "X-Real-IP: 10.1.2.3\r\nX-Forwarded-For: 10.1.2.3\r\n\
     X-Forwarded-Proto: https\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
     User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/131.0.0.0 Safari/537.36\r\nOrigin: https://ilias.uni.test\r\n\
     Accept-Encoding: gzip, deflate, br, zstd\r\n\
     Accept-Language: de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7\r\n\
     Cookie: PHPSESSID=5g2kd8s1ld9r7ahbq0o4vn3hc6; ilClientId=campus\r\n\
     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// One websocket connection.
pub struct Ws {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Ws {
    /// Connects (from `local` when given, e.g. 127.0.0.2) and upgrades `path`.
    pub async fn connect(addr: SocketAddr, path: &str, local: Option<IpAddr>) -> io::Result<Ws> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = local {
            // A bind to port 0 reserves a port for every destination, and with thousands of
            // an earlier run's connections in TIME_WAIT the kernel's search for a free one
            // cost the load client seconds of CPU per run (3.7 to 49.9 s for the same ramp);
            // with this option the port is chosen at connect time, per 4-tuple.
            setsockopt(&socket, IpBindAddressNoPort, &true)?;
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let mut stream = socket.connect(addr).await?;
        let key = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{BROWSER_HEADERS}\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::with_capacity(1024);
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the upgrade",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(bad(format!(
                "no upgrade: {}",
                head.lines().next().unwrap_or("")
            )));
        }
        buf.drain(..end);
        Ok(Ws { stream, buf })
    }

    /// Sends one text frame (masked, as a client must).
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        let payload = text.as_bytes();
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x81);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = rand_bytes()[..4].try_into().expect("4 bytes");
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await
    }

    async fn fill(&mut self, wanted: usize) -> io::Result<bool> {
        while self.buf.len() < wanted {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(true)
    }

    /// The next text message; pings are answered on the way. `None` when the server
    /// closed the connection (close frame or EOF).
    pub async fn recv_text(&mut self) -> io::Result<Option<String>> {
        loop {
            if !self.fill(2).await? {
                return Ok(None);
            }
            let opcode = self.buf[0] & 0x0f;
            let (len, header) = match self.buf[1] & 0x7f {
                126 => {
                    if !self.fill(4).await? {
                        return Ok(None);
                    }
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 => {
                    if !self.fill(10).await? {
                        return Ok(None);
                    }
                    let bytes: [u8; 8] = self.buf[2..10].try_into().expect("8 bytes");
                    (u64::from_be_bytes(bytes) as usize, 10)
                }
                n => (n as usize, 2),
            };
            if !self.fill(header + len).await? {
                return Ok(None);
            }
            let payload: Vec<u8> = self.buf.drain(..header + len).skip(header).collect();
            match opcode {
                0x1 | 0x0 => {
                    return Ok(Some(
                        String::from_utf8(payload).map_err(|e| bad(e.to_string()))?,
                    ));
                }
                0x8 => return Ok(None),
                0x9 => self.send_control(0xA, &payload).await?,
                _ => {}
            }
        }
    }

    async fn send_control(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await
    }

    /// The next Engine.IO message that is not a ping; pings ("2") are answered ("3").
    pub async fn recv_eio(&mut self) -> io::Result<Option<String>> {
        loop {
            match self.recv_text().await? {
                Some(ping) if ping == "2" => self.send_text("3").await?,
                other => return Ok(other),
            }
        }
    }

    /// Engine.IO open, then `40<namespace>,`; the socket.io CONNECT answer.
    pub async fn join(&mut self, namespace: &str) -> io::Result<String> {
        let open = self
            .recv_eio()
            .await?
            .ok_or_else(|| bad("closed before open"))?;
        if !open.starts_with('0') {
            return Err(bad(format!("expected the open packet, got {open:?}")));
        }
        self.send_text(&format!("40{namespace},")).await?;
        let answer = self
            .recv_eio()
            .await?
            .ok_or_else(|| bad("closed before the namespace answer"))?;
        if !answer.starts_with(&format!("40{namespace},")) {
            return Err(bad(format!("namespace {namespace} refused: {answer:?}")));
        }
        Ok(answer)
    }
}

/// 16 bytes that differ between calls (websocket keys and masks need not be secret).
fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut x = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}
