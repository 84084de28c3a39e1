//! A socket.io request's head, copied out of hyper's connection buffer, with only the
//! headers the chat reads.
//!
//! hyper parses a request head without copying: header values are slices of the
//! connection's read buffer (8 KiB). engineioxide keeps the head of the request that
//! opened a session (`req_parts`) for as long as the session lives, and with it that
//! whole buffer — 8 KiB per browser, idle or not (measured with `benches/idle.rs`, see
//! README "Idle browsers"). A copy of the head lets the buffer go when the websocket
//! takes over the connection.
//!
//! The copy keeps only [`KEPT`]: a browser's head is mostly headers nobody reads after
//! the handshake (user agent, accepted languages and encodings, client hints, fetch
//! metadata, a proxy's forwarding headers), and kept for the session's life they cost
//! about a kilobyte per idle browser.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};

/// The headers a socket.io request keeps, and who reads them: engineioxide the upgrade's
/// key and a polling body's content type (hyper has framed the body and answered the
/// upgrade from the head it parsed itself), the handshake the ILIAS session cookie
/// (`verify_session`). `Host`, `Connection`, `Upgrade` and the websocket version stay so
/// that the kept head still reads as the request it was.
pub const KEPT: [HeaderName; 8] = [
    header::HOST,
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::COOKIE,
];

/// `request` with its URI and the [`KEPT`] headers in allocations of their own.
pub fn detached<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    parts.uri = copy_uri(&parts.uri);
    parts.headers = copy_kept_headers(&parts.headers);
    Request::from_parts(parts, body)
}

fn copy_uri(uri: &Uri) -> Uri {
    // Parsing the text again allocates it anew; it parsed once, so it parses again.
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

fn copy_kept_headers(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(KEPT.len());
    for (name, value) in headers.iter().filter(|(name, _)| KEPT.contains(name)) {
        // Valid once, valid again: the fallback keeps the original (and its buffer)
        // only for what `http` would not build from bytes. The names are `KEPT`'s
        // standard ones, which own no bytes of the buffer.
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name.clone(), owned);
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A websocket request of Chromium through nginx, as a browser on an ILIAS page sends it.
    fn browser_request() -> Request<()> {
        Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("host", "ilias.uni.test")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("x-real-ip", "10.0.0.1")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-proto", "https")
            .header("pragma", "no-cache")
            .header("cache-control", "no-cache")
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            )
            .header("origin", "https://ilias.uni.test")
            .header("sec-websocket-version", "13")
            .header("accept-encoding", "gzip, deflate, br, zstd")
            .header("accept-language", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7")
            .header("cookie", "PHPSESSID=abc")
            .header("cookie", "ilClientId=xyz")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header(
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            )
            .body(())
            .expect("request")
    }

    #[test]
    fn the_copy_keeps_the_uri_and_the_headers_read_later_in_order() {
        let request = browser_request();
        let copy = detached(request.clone());
        assert_eq!(copy.uri(), request.uri());
        for name in KEPT {
            let original: Vec<_> = request.headers().get_all(&name).iter().collect();
            let copied: Vec<_> = copy.headers().get_all(&name).iter().collect();
            assert_eq!(copied, original, "{name}");
        }
        let cookies: Vec<_> = copy.headers().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["PHPSESSID=abc", "ilClientId=xyz"]);
    }

    #[test]
    fn the_copy_drops_what_nobody_reads_after_the_handshake() {
        let copy = detached(browser_request());
        let names: Vec<_> = copy.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            [
                "host",
                "connection",
                "upgrade",
                "sec-websocket-version",
                "cookie",
                "sec-websocket-key"
            ]
        );
    }

    #[test]
    fn the_copy_shares_no_bytes_with_the_buffer_it_was_parsed_from() {
        // A value made from a slice of a larger buffer, as hyper makes them.
        let buffer = bytes::Bytes::from(vec![b'a'; 8192]);
        let value = HeaderValue::from_maybe_shared(buffer.slice(0..16)).expect("value");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value);
        let copied = copy_kept_headers(&headers);
        let original = headers[header::COOKIE].as_bytes().as_ptr();
        let copy = copied[header::COOKIE].as_bytes().as_ptr();
        assert_ne!(original, copy, "the copy still points into the old buffer");
        assert_eq!(copied[header::COOKIE], headers[header::COOKIE]);
    }
}
