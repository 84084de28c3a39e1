//! client.cfg extension keys of verified identity (`verify_session`, `session_cookie`):
//! whether browsers must prove with their ILIAS session cookie who they are.
//! See docs/verified-identity.md.

use serde_json::Value;

use super::ConfigError;
use super::value::{Field, Object};

const VERIFY_SESSION: &str = "false, \"strict\" or \"lenient\"";
const SESSION_COOKIE: &str =
    "the name of ILIAS' PHP session cookie (session.name in php.ini; default \"PHPSESSID\")";

/// PHP's default `session.name`, which ILIAS does not change.
pub const DEFAULT_SESSION_COOKIE: &str = "PHPSESSID";

/// `verify_session`: what happens to a socket.io connection without a valid ILIAS session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifySession {
    /// No check (the original server's behaviour): `login` is believed.
    #[default]
    Off,
    /// A connection without a valid session cookie is refused (`connect_error`).
    Strict,
    /// A connection without a valid session cookie is accepted unverified (logged), as
    /// with `Off`; one with a valid cookie is bound to its user as with `Strict`.
    Lenient,
}

impl VerifySession {
    /// The spelling in client.cfg.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifySession::Off => "off",
            VerifySession::Strict => "strict",
            VerifySession::Lenient => "lenient",
        }
    }
}

/// The verified-identity settings of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    pub verify_session: VerifySession,
    /// The cookie that carries the ILIAS (PHP) session id.
    pub session_cookie: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            verify_session: VerifySession::Off,
            session_cookie: DEFAULT_SESSION_COOKIE.to_owned(),
        }
    }
}

/// Reads both keys from the top level of a client.cfg.
pub(super) fn load(root: &Object) -> Result<IdentityConfig, ConfigError> {
    Ok(IdentityConfig {
        verify_session: verify_session(&root.field("verify_session"))?,
        session_cookie: session_cookie(&root.field("session_cookie"))?,
    })
}

/// Absent, `null` and `false` mean off. `true` is refused rather than guessed: the
/// admin has to say which of the two behaviours for unverified browsers is wanted.
fn verify_session(field: &Field) -> Result<VerifySession, ConfigError> {
    match field.value() {
        None | Some(Value::Bool(false)) => Ok(VerifySession::Off),
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "false" => Ok(VerifySession::Off),
            "strict" => Ok(VerifySession::Strict),
            "lenient" => Ok(VerifySession::Lenient),
            _ => Err(field.invalid("is not a verification mode", VERIFY_SESSION)),
        },
        Some(Value::Bool(true)) => Err(field.invalid(
            "does not say what happens to browsers without a valid session",
            VERIFY_SESSION,
        )),
        Some(_) => Err(field.invalid("is not a verification mode", VERIFY_SESSION)),
    }
}

/// A cookie name is an HTTP token (RFC 6265 §4.1.1); anything else could never match.
fn session_cookie(field: &Field) -> Result<String, ConfigError> {
    let Some(name) = field.optional_str(SESSION_COOKIE)? else {
        return Ok(DEFAULT_SESSION_COOKIE.to_owned());
    };
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if let Some(bad) = name.chars().find(|&c| !token(c)) {
        return Err(field.invalid(
            &format!("contains {bad:?}, which a cookie name cannot"),
            SESSION_COOKIE,
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{Map, json};

    use super::*;

    fn parse(value: Value) -> Result<IdentityConfig, ConfigError> {
        let Value::Object(map) = value else {
            unreachable!("tests pass objects")
        };
        let map: Map<String, Value> = map;
        load(&Object::root(Path::new("client.cfg"), &map))
    }

    #[test]
    fn off_unless_asked_for() {
        assert_eq!(parse(json!({})).unwrap(), IdentityConfig::default());
        for off in [
            json!(false),
            json!(null),
            json!("off"),
            json!(""),
            json!("false"),
        ] {
            let config = parse(json!({ "verify_session": off })).unwrap();
            assert_eq!(config.verify_session, VerifySession::Off, "{off}");
        }
        assert_eq!(IdentityConfig::default().session_cookie, "PHPSESSID");
    }

    #[test]
    fn strict_and_lenient() {
        let strict = parse(json!({"verify_session": "strict"})).unwrap();
        assert_eq!(strict.verify_session, VerifySession::Strict);
        let lenient = parse(json!({"verify_session": " Lenient "})).unwrap();
        assert_eq!(lenient.verify_session, VerifySession::Lenient);
    }

    #[test]
    fn other_values_name_the_key_and_the_choices() {
        for bad in [json!(true), json!(1), json!("yes"), json!(["strict"])] {
            let error = parse(json!({ "verify_session": bad }))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("client.cfg: verify_session: "), "{error}");
            assert!(error.contains("\"strict\" or \"lenient\""), "{error}");
        }
    }

    #[test]
    fn session_cookie_names() {
        let named = parse(json!({"session_cookie": "ILIASSESSID"})).unwrap();
        assert_eq!(named.session_cookie, "ILIASSESSID");
        let blank = parse(json!({"session_cookie": ""})).unwrap();
        assert_eq!(blank.session_cookie, "PHPSESSID");
        for bad in [json!("PHP SESSID"), json!("a=b"), json!("x;y"), json!(5)] {
            let error = parse(json!({ "session_cookie": bad }))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("client.cfg: session_cookie: "), "{error}");
        }
    }
}
