//! The two ILIAS cookies in a socket.io handshake: the PHP session id and `ilClientId`.

use http::HeaderMap;
use http::header::COOKIE;

/// The cookie ILIAS sets to remember which client (installation) a browser uses.
pub const CLIENT_ID_COOKIE: &str = "ilClientId";

/// The longest session id `usr_session.session_id` (`varchar(250)`) can hold.
const MAX_SESSION_ID: usize = 250;

/// Browsers may send a cookie name more than once (cookies set for different paths);
/// more values than this are not looked at.
const MAX_VALUES: usize = 4;

/// What the handshake's cookies say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeCookies {
    /// Well-formed session ids, in header order, without duplicates (at most four).
    pub session_ids: Vec<String>,
    /// Values of the session cookie that cannot be PHP session ids.
    pub malformed: usize,
    /// Values of `ilClientId`.
    pub client_ids: Vec<String>,
}

impl HandshakeCookies {
    /// Reads every `Cookie` header of a request.
    pub fn from_headers(headers: &HeaderMap, session_cookie: &str) -> HandshakeCookies {
        let mut cookies = HandshakeCookies::default();
        for header in headers.get_all(COOKIE) {
            // A header that is not visible ASCII cannot carry what we look for.
            let Ok(text) = header.to_str() else {
                continue;
            };
            for (name, value) in pairs(text) {
                if name == session_cookie {
                    cookies.add_session_id(value);
                } else if name == CLIENT_ID_COOKIE && cookies.client_ids.len() < MAX_VALUES {
                    cookies.client_ids.push(value.to_owned());
                }
            }
        }
        cookies
    }

    fn add_session_id(&mut self, value: &str) {
        if !is_session_id(value) {
            self.malformed += 1;
        } else if self.session_ids.len() < MAX_VALUES
            && !self.session_ids.iter().any(|s| s == value)
        {
            self.session_ids.push(value.to_owned());
        }
    }

    /// `Some(false)` when `ilClientId` is present but names none of `client`; `None`
    /// when the browser sent no `ilClientId` (ILIAS sets it on every page, but a proxy
    /// may serve the chat on a path the cookie does not cover).
    pub fn client_matches(&self, client: &str) -> Option<bool> {
        if self.client_ids.is_empty() {
            None
        } else {
            Some(self.client_ids.iter().any(|id| id == client))
        }
    }
}

/// `name=value` pairs of one `Cookie` header (RFC 6265 §4.2.1, leniently: blanks
/// around names and values are dropped, a value in double quotes loses them, pairs
/// without `=` are skipped).
fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name.trim(), value))
    })
}

/// PHP session ids use `[0-9a-zA-Z,-]` (`session.sid_bits_per_character` 4, 5 or 6);
/// ILIAS stores them in a `varchar(250)`. Anything else was never issued by ILIAS.
pub fn is_session_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_SESSION_ID
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b',' || b == b'-')
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn parse(values: &[&str]) -> HandshakeCookies {
        HandshakeCookies::from_headers(&headers(values), "PHPSESSID")
    }

    #[test]
    fn finds_the_session_and_client_among_other_cookies() {
        let cookies = parse(&["a=1; PHPSESSID=k3v9q1rq2o4kp1jg7r3m0ul5de; ilClientId=default; b"]);
        assert_eq!(cookies.session_ids, ["k3v9q1rq2o4kp1jg7r3m0ul5de"]);
        assert_eq!(cookies.client_ids, ["default"]);
        assert_eq!(cookies.malformed, 0);
        assert_eq!(cookies.client_matches("default"), Some(true));
        assert_eq!(cookies.client_matches("other"), Some(false));
    }

    #[test]
    fn no_cookie_header_means_nothing() {
        let cookies = parse(&[]);
        assert_eq!(cookies, HandshakeCookies::default());
        assert_eq!(cookies.client_matches("default"), None);
    }

    #[test]
    fn names_are_exact_and_case_sensitive() {
        let cookies = parse(&["phpsessid=abc; PHPSESSID2=def; XPHPSESSID=ghi"]);
        assert!(cookies.session_ids.is_empty());
        let named = HandshakeCookies::from_headers(&headers(&["ILIAS=abc"]), "ILIAS");
        assert_eq!(named.session_ids, ["abc"]);
    }

    #[test]
    fn blanks_quotes_and_several_headers() {
        let cookies = parse(&[
            " PHPSESSID = \"abc-1,2\" ",
            "PHPSESSID=def;PHPSESSID=abc-1,2",
        ]);
        assert_eq!(cookies.session_ids, ["abc-1,2", "def"]);
    }

    #[test]
    fn malformed_session_ids_are_counted_not_kept() {
        let long = "a".repeat(251);
        let header =
            format!("PHPSESSID=; PHPSESSID=a b; PHPSESSID=x'y; PHPSESSID={long}; PHPSESSID=ok");
        let cookies = parse(&[&header]);
        assert_eq!(cookies.session_ids, ["ok"]);
        assert_eq!(cookies.malformed, 4);
        assert!(is_session_id(&"a".repeat(250)));
    }

    #[test]
    fn values_are_bounded() {
        let header = (0..10)
            .map(|i| format!("PHPSESSID=s{i}; ilClientId=c{i}"))
            .collect::<Vec<_>>()
            .join("; ");
        let cookies = parse(&[&header]);
        assert_eq!(cookies.session_ids.len(), 4);
        assert_eq!(cookies.client_ids.len(), 4);
    }

    #[test]
    fn a_non_ascii_header_is_skipped() {
        let mut map = headers(&["PHPSESSID=good"]);
        map.append(
            COOKIE,
            HeaderValue::from_bytes(b"PHPSESSID=\xffbad").unwrap(),
        );
        let cookies = HandshakeCookies::from_headers(&map, "PHPSESSID");
        assert_eq!(cookies.session_ids, ["good"]);
    }
}
