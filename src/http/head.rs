//! A socket.io request's head, copied out of hyper's connection buffer.
//!
//! hyper parses a request head without copying: header values are slices of the
//! connection's read buffer (8 KiB). engineioxide keeps the head of the request that
//! opened a session (`req_parts`) for as long as the session lives, and with it that
//! whole buffer — 8 KiB per browser, idle or not (measured with `benches/idle.rs`, see
//! README "Idle browsers"). A copy of the few hundred bytes of the head lets the buffer
//! go when the websocket takes over the connection.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};

/// `request` with its URI, header names and values in allocations of their own.
pub fn detached<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    parts.uri = copy_uri(&parts.uri);
    parts.headers = copy_headers(&parts.headers);
    Request::from_parts(parts, body)
}

fn copy_uri(uri: &Uri) -> Uri {
    // Parsing the text again allocates it anew; it parsed once, so it parses again.
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

fn copy_headers(headers: &HeaderMap) -> HeaderMap {
    let mut copy = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        // Valid once, valid again: the fallbacks keep the original (and its buffer)
        // only for what `http` would not build from bytes.
        let name =
            HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or_else(|_| name.clone());
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name, owned);
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_keeps_every_header_in_order_and_the_uri() {
        let request = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-forwarded-for", "10.0.0.2")
            .header("cookie", "PHPSESSID=abc; ilClientId=xyz")
            .body(())
            .expect("request");
        let copy = detached(request.clone());
        assert_eq!(copy.uri(), request.uri());
        assert_eq!(copy.headers(), request.headers());
        let forwarded: Vec<_> = copy.headers().get_all("x-forwarded-for").iter().collect();
        assert_eq!(forwarded, ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn the_copy_shares_no_bytes_with_the_buffer_it_was_parsed_from() {
        // A value made from a slice of a larger buffer, as hyper makes them.
        let buffer = bytes::Bytes::from(vec![b'a'; 8192]);
        let value = HeaderValue::from_maybe_shared(buffer.slice(0..16)).expect("value");
        let mut headers = HeaderMap::new();
        headers.insert("x-test", value);
        let copied = copy_headers(&headers);
        let original = headers["x-test"].as_bytes().as_ptr();
        let copy = copied["x-test"].as_bytes().as_ptr();
        assert_ne!(original, copy, "the copy still points into the old buffer");
        assert_eq!(copied["x-test"], headers["x-test"]);
    }
}
