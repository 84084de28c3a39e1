//! HTTP Basic authentication of ILIAS PHP against a client's `auth.key`/`auth.secret`.

use base64::Engine;
use subtle::ConstantTimeEq;

use crate::config::Auth;

/// Checks an `Authorization` header value. The secret may contain `:` (only the first
/// colon separates key and secret, per RFC 7617); both parts are compared in constant
/// time so the response time does not leak how much of a guess was right.
pub fn is_authorized(header: Option<&str>, expected: &Auth) -> bool {
    let Some((key, secret)) = header.and_then(decode_basic) else {
        return false;
    };
    let key_ok = key.as_bytes().ct_eq(expected.key.as_bytes());
    let secret_ok = secret.as_bytes().ct_eq(expected.secret.as_bytes());
    bool::from(key_ok & secret_ok)
}

/// `Basic base64(key:secret)` → `(key, secret)`.
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth {
            key: "k".into(),
            secret: "s:e:c".into(),
        }
    }

    fn header(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn accepts_the_right_pair_even_with_colons_in_the_secret() {
        assert!(is_authorized(Some(&header("k:s:e:c")), &auth()));
        assert!(is_authorized(
            Some(&header("k:s:e:c").replace("Basic", "basic")),
            &auth()
        ));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            Some(header("k:s")),
            Some(header("x:s:e:c")),
            Some(header("k")),
            Some("Basic !!!".to_string()),
            Some("Bearer abc".to_string()),
            Some("Basic".to_string()),
            None,
        ] {
            assert!(!is_authorized(bad.as_deref(), &auth()), "{bad:?}");
        }
    }
}
