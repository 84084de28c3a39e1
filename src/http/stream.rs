//! The guard around every accepted connection (above TLS, below hyper): the bounds
//! that hold whatever hyper, engineioxide or a websocket task above it is doing.
//!
//! - **Write progress**: a write (or flush) that makes no progress for
//!   `write_timeout` fails, and so does everything after it, reads included. A peer
//!   that stops reading therefore loses its connection even while a task above is
//!   blocked in a write: engineioxide 0.17.9 closes a websocket session only once its
//!   writer task gives up the session's receive lock, and that writer awaits its
//!   writes without watching the session's cancellation, so without this bound a
//!   non-reading browser keeps its session (and its place in every room) for as long
//!   as its TCP stack answers zero-window probes.
//! - **Read idleness**: a connection from which nothing arrives for [`READ_IDLE`]
//!   fails. socket.io browsers answer the heartbeat every 25 s, so only dead peers
//!   and idle keep-alive connections reach it.
//! - **Websocket message size**: once the connection was upgraded (the guard sees
//!   the `101` response go out), the frame headers the browser sends are followed;
//!   a message longer than [`MAX_MESSAGE_BYTES`] (socket.io's `maxHttpBufferSize`,
//!   which the original keeps) is refused before its payload is read: the
//!   connection gets a close frame with code 1009, as from the original, and is
//!   ended. Nothing of the message reaches socket.io.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The largest message a browser may send, on every transport (bytes of the
/// Engine.IO packet). socket.io 4's default `maxHttpBufferSize`.
pub const MAX_MESSAGE_BYTES: u64 = 1_000_000;

/// How long a connection may stay without receiving anything.
pub const READ_IDLE: Duration = Duration::from_secs(90);

/// The default of `write_timeout` in server.cfg.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// `write_timeout` in milliseconds, for connections accepted from now on (a reload
/// may change it).
static WRITE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Sets how long a write may make no progress before its connection is ended.
pub fn set_write_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    WRITE_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

fn write_timeout() -> Duration {
    Duration::from_millis(WRITE_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// The close frame the server sends for an oversize message: FIN + close, no mask,
/// two bytes of payload, code 1009 ("message too big").
const CLOSE_1009: [u8; 4] = [0x88, 0x02, 0x03, 0xF1];

/// Why a guarded connection was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    WriteStalled,
    ReadIdle,
    TooBig,
}

impl Ended {
    fn error(self) -> io::Error {
        match self {
            Ended::WriteStalled => io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer has not taken data for longer than write_timeout",
            ),
            Ended::ReadIdle => io::Error::new(io::ErrorKind::TimedOut, "nothing received"),
            Ended::TooBig => io::Error::new(
                io::ErrorKind::InvalidData,
                "websocket message larger than the limit",
            ),
        }
    }
}

/// A connection with the bounds described in the module documentation.
pub struct Guarded<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    /// `None` only once dropped (handed to the drain after a refused message).
    inner: Option<S>,
    write_timeout: Duration,
    /// Runs while a write waits (`stall_armed`); any progress disarms it. Allocated
    /// at the first wait, then reused.
    write_stall: Option<Pin<Box<Sleep>>>,
    stall_armed: bool,
    read_idle: Pin<Box<Sleep>>,
    last_read: Instant,
    ended: Option<Ended>,
    /// The task waiting to read, woken when a write ends the connection (it would
    /// otherwise wait for data that may never come).
    read_waker: Option<Waker>,
    /// Websocket frames from the browser, once upgraded.
    inbound: Option<Frames>,
    /// Websocket frames to the browser, once upgraded (to send the close frame
    /// between two of them, not inside one).
    outbound: Frames,
    /// How much of [`CLOSE_1009`] is still to be written, after an oversize message.
    close_left: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Guarded<S> {
    /// Guards `inner` with the current `write_timeout`.
    pub fn new(inner: S) -> Guarded<S> {
        let now = Instant::now();
        Guarded {
            inner: Some(inner),
            write_timeout: write_timeout(),
            write_stall: None,
            stall_armed: false,
            read_idle: Box::pin(tokio::time::sleep_until(now + READ_IDLE)),
            last_read: now,
            ended: None,
            read_waker: None,
            inbound: None,
            outbound: Frames::limited_to(u64::MAX),
            close_left: 0,
        }
    }

    fn end(&mut self, why: Ended) -> io::Error {
        if self.ended.is_none() {
            self.ended = Some(why);
            if why != Ended::TooBig {
                tracing::debug!(error = %why.error(), "connection ended");
            }
        }
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
        why.error()
    }

    /// A write that did not progress: arms the stall timer, or ends the connection
    /// when it ran out.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let deadline = Instant::now() + self.write_timeout;
        let timer = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.stall_armed {
            timer.as_mut().reset(deadline);
            self.stall_armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(self.end(Ended::WriteStalled)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed(&mut self) {
        self.stall_armed = false;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Guarded<S> {
    fn io(&mut self) -> io::Result<Pin<&mut S>> {
        self.inner
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Writes what is left of the 1009 close frame.
    fn poll_close_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.close_left > 0 {
            let from = CLOSE_1009.len() - self.close_left;
            match self.io()?.poll_write(cx, &CLOSE_1009[from..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.progressed();
                    self.close_left -= n.min(self.close_left);
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return self.stalled(cx).map(Err),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// After an oversize message: the close frame goes out at the next frame
    /// boundary; what the websocket task writes after it is dropped.
    fn poll_refused_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.outbound.at_boundary() {
            ready!(self.poll_close_frame(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        // Finish the frame in progress first; only as much as belongs to it.
        let take = self.outbound.bytes_to_boundary(buf);
        self.poll_write_tracked(cx, &buf[..take])
    }

    fn poll_write_tracked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.io()?.poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                self.note_written(&buf[..n.min(buf.len())]);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.stalled(cx).map(Err),
        }
    }

    fn note_written(&mut self, written: &[u8]) {
        if self.inbound.is_some() {
            // Unlimited: never refuses.
            let _ = self.outbound.advance(written);
        } else if written.starts_with(b"HTTP/1.1 101 ") {
            // The upgrade response: from here on both directions are websocket
            // frames (the browser sends none before it has read this response).
            self.inbound = Some(Frames::limited_to(MAX_MESSAGE_BYTES));
            if let Some(end) = find_header_end(written) {
                let _ = self.outbound.advance(&written[end..]);
            }
        }
    }
}

/// Where the header block of an HTTP response ends (the index after `\r\n\r\n`).
fn find_header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(why) = this.ended {
            return Poll::Ready(Err(why.error()));
        }
        let before = buf.filled().len();
        match this.io()?.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.last_read = Instant::now();
                    if let Some(frames) = this.inbound.as_mut()
                        && frames.advance(read).is_err()
                    {
                        // Nothing of the oversize message goes up.
                        buf.set_filled(before);
                        this.close_left = CLOSE_1009.len();
                        return Poll::Ready(Err(this.end(Ended::TooBig)));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                this.read_waker = Some(cx.waker().clone());
                let deadline = this.last_read + READ_IDLE;
                if this.read_idle.deadline() != deadline {
                    this.read_idle.as_mut().reset(deadline);
                }
                match this.read_idle.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(this.end(Ended::ReadIdle))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.ended {
            Some(Ended::TooBig) => this.poll_refused_write(cx, buf),
            Some(why) => Poll::Ready(Err(why.error())),
            None => this.poll_write_tracked(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // One slice at a time keeps the frame tracking simple; hyper copes with
        // partial writes.
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.poll_write(cx, first)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.ended {
            Some(Ended::TooBig) if this.outbound.at_boundary() => {
                ready!(this.poll_close_frame(cx))?;
            }
            Some(Ended::TooBig) | None => {}
            Some(why) => return Poll::Ready(Err(why.error())),
        }
        match this.io()?.poll_flush(cx) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.stalled(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.ended {
            Some(Ended::TooBig) if this.outbound.at_boundary() => {
                ready!(this.poll_close_frame(cx))?;
            }
            Some(Ended::WriteStalled) => return Poll::Ready(Err(Ended::WriteStalled.error())),
            _ => {}
        }
        match this.io()?.poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.stalled(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Guarded<S> {
    fn drop(&mut self) {
        if self.ended != Some(Ended::TooBig) {
            return;
        }
        let (Some(inner), Ok(runtime)) = (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let close = if self.outbound.at_boundary() {
            &CLOSE_1009[CLOSE_1009.len() - self.close_left..]
        } else {
            &[]
        };
        runtime.spawn(drain(inner, close));
    }
}

/// How long the rest of a refused message is read (and dropped) after the close
/// frame, at most.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Sends the close frame, then reads and drops what the browser is still sending
/// (the rest of the refused message) until it closes too, boundedly. Closing at once
/// with unread data would make the kernel answer with a reset, and the browser
/// would lose the close frame with its 1009 (the original, with `ws`, drains too).
async fn drain<S: AsyncRead + AsyncWrite + Unpin>(mut inner: S, close: &'static [u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        inner.write_all(close).await?;
        inner.shutdown().await?;
        let mut sink = [0u8; 16 * 1024];
        while inner.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
}

/// Follows websocket frames through a byte stream: where a frame ends, and how long
/// the data message being received is so far.
#[derive(Debug)]
struct Frames {
    /// The longest data message allowed.
    limit: u64,
    /// The header being read (at most 2 + 8 + 4 bytes).
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// Length of the data message so far (over its fragments).
    message_len: u64,
}

/// A message beyond [`MAX_MESSAGE_BYTES`].
#[derive(Debug)]
struct TooBig;

impl Frames {
    fn limited_to(limit: u64) -> Frames {
        Frames {
            limit,
            header: [0; 14],
            header_len: 0,
            payload_left: 0,
            message_len: 0,
        }
    }

    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }

    /// How many bytes of `buf` may be written before the current frame ends.
    fn bytes_to_boundary(&self, buf: &[u8]) -> usize {
        if self.header_len == 0 && self.payload_left > 0 {
            return usize::try_from(self.payload_left)
                .map_or(buf.len(), |left| left.min(buf.len()));
        }
        // In the header: one byte at a time until its length is known.
        buf.len().min(1)
    }

    fn advance(&mut self, mut bytes: &[u8]) -> Result<(), TooBig> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left)
                    .map_or(bytes.len(), |left| left.min(bytes.len()));
                self.payload_left -= skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            self.header[self.header_len] = bytes[0];
            self.header_len += 1;
            bytes = &bytes[1..];
            if self.header_len < 2 {
                continue;
            }
            let masked = self.header[1] & 0x80 != 0;
            let short = self.header[1] & 0x7f;
            let extended = match short {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let needed = 2 + extended + if masked { 4 } else { 0 };
            if self.header_len < needed {
                continue;
            }
            let length = match extended {
                0 => u64::from(short),
                2 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
                _ => {
                    let mut eight = [0u8; 8];
                    eight.copy_from_slice(&self.header[2..10]);
                    u64::from_be_bytes(eight)
                }
            };
            let fin = self.header[0] & 0x80 != 0;
            let opcode = self.header[0] & 0x0f;
            self.header_len = 0;
            self.payload_left = length;
            // Control frames (close, ping, pong) do not belong to the message.
            if opcode < 8 {
                self.message_len = if opcode == 0 {
                    self.message_len.saturating_add(length)
                } else {
                    length
                };
                if self.message_len > self.limit {
                    return Err(TooBig);
                }
                if fin {
                    self.message_len = 0;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_header(fin: bool, opcode: u8, len: u64, masked: bool) -> Vec<u8> {
        let mut header = vec![if fin { 0x80 } else { 0 } | opcode];
        let mask = if masked { 0x80 } else { 0 };
        if len < 126 {
            header.push(mask | len as u8);
        } else if len <= u64::from(u16::MAX) {
            header.push(mask | 126);
            header.extend((len as u16).to_be_bytes());
        } else {
            header.push(mask | 127);
            header.extend(len.to_be_bytes());
        }
        if masked {
            header.extend([1, 2, 3, 4]);
        }
        header
    }

    #[test]
    fn frames_of_any_size_up_to_the_limit_pass() {
        let mut frames = Frames::limited_to(MAX_MESSAGE_BYTES);
        for len in [0, 5, 125, 126, 65_535, 65_536, MAX_MESSAGE_BYTES] {
            frames
                .advance(&frame_header(true, 1, len, true))
                .expect("allowed");
            assert!(!frames.at_boundary() || len == 0);
            let payload = vec![0u8; len as usize];
            frames.advance(&payload).expect("payload");
            assert!(frames.at_boundary());
        }
    }

    #[test]
    fn a_frame_beyond_the_limit_is_refused_at_its_header() {
        let mut frames = Frames::limited_to(MAX_MESSAGE_BYTES);
        assert!(
            frames
                .advance(&frame_header(true, 1, 10_000_000, true))
                .is_err()
        );
    }

    #[test]
    fn fragments_count_together_and_control_frames_do_not() {
        let mut frames = Frames::limited_to(MAX_MESSAGE_BYTES);
        let half = MAX_MESSAGE_BYTES / 2 + 1;
        frames.advance(&frame_header(false, 2, half, true)).unwrap();
        frames.advance(&vec![0u8; half as usize]).unwrap();
        // A ping between fragments.
        frames.advance(&frame_header(true, 9, 4, true)).unwrap();
        frames.advance(&[0, 0, 0, 0]).unwrap();
        assert!(frames.advance(&frame_header(true, 0, half, true)).is_err());
    }

    #[tokio::test]
    async fn an_oversize_message_is_answered_with_1009_and_not_passed_on() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, mut browser) = tokio::io::duplex(1 << 16);
        let mut server = Guarded::new(server);
        server
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
            .await
            .unwrap();
        // A frame of the server's in flight: the close frame must not cut into it.
        let mut first = frame_header(true, 1, 4, false);
        first.extend(b"ab");
        server.write_all(&first).await.unwrap();
        browser
            .write_all(&frame_header(true, 1, 10_000_000, true))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let error = server.read(&mut buf).await.expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // The rest of the frame in flight, then what tungstenite would send: dropped.
        server.write_all(b"cd").await.unwrap();
        server.write_all(&[0x88, 0x00]).await.unwrap();
        server.flush().await.unwrap();
        server.shutdown().await.unwrap();
        let mut seen = Vec::new();
        browser.read_to_end(&mut seen).await.unwrap();
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".len();
        assert_eq!(
            &seen[head..],
            &[0x81, 4, b'a', b'b', b'c', b'd', 0x88, 2, 0x03, 0xF1]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_without_progress_fails_after_the_timeout_and_wakes_the_reader() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, _browser) = tokio::io::duplex(16);
        let mut server = Guarded::new(server);
        server.write_timeout = Duration::from_secs(5);
        let (mut read_half, mut write_half) = tokio::io::split(server);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            read_half.read(&mut buf).await
        });
        let started = Instant::now();
        let error = write_half
            .write_all(&[0u8; 1024])
            .await
            .expect_err("no progress");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let read = reader.await.unwrap();
        assert!(read.is_err(), "the reader is ended too");
    }

    #[test]
    fn headers_split_over_reads_are_followed() {
        let mut frames = Frames::limited_to(MAX_MESSAGE_BYTES);
        let header = frame_header(true, 1, 70_000, true);
        for byte in &header {
            frames.advance(std::slice::from_ref(byte)).unwrap();
        }
        assert_eq!(frames.payload_left, 70_000);
    }
}
