//! client.cfg: one ILIAS client (instance name, credentials, database).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::value::{Field, Object, read_object};
use super::{Auth, ClientConfig, ConfigError, DatabaseConfig, Generation};

const NAME: &str = "the instance name (ASCII letters, digits, \"-\", \"_\" and \".\" only)";
const AUTH: &str = "an object with \"key\" and \"secret\"";
const NON_EMPTY: &str = "a non-empty string";
const DATABASE: &str = "an object with type, host, port, name, user and pass";
const HOST: &str = "a host name, an IP address or the path of a unix socket";
const SOCKET: &str = "the path of the MySQL unix socket, or \"\"";
const DATABASE_NAME: &str = "the name of the ILIAS database";
const SQLITE_PATH: &str = "the path of the SQLite database file";
const USER: &str = "the database user";
const PASS: &str = "a string (may be empty)";
const ILIAS_VERSION: &str =
    "8, 9, 10, 11 or 12 (or leave it out to detect the version from the database)";

/// MySQL's default port, used when client.cfg says 0 or nothing (ILIAS writes 0 when
/// client.ini.php has no port).
const MYSQL_DEFAULT_PORT: u16 = 3306;

/// Reads and validates one client.cfg.
pub(super) fn load(path: &Path) -> Result<ClientConfig, ConfigError> {
    let map = read_object(path)?;
    let root = Object::root(path, &map);
    Ok(ClientConfig {
        file: path.to_path_buf(),
        name: name(&root.field("name"))?,
        auth: auth(&root.field("auth").redacted())?,
        database: database(&root.field("database").redacted())?,
        ilias_version: ilias_version(&root.field("ilias_version"))?,
        identity: super::identity::load(&root)?,
    })
}

/// The name becomes a URL path segment (`/backend/.../<name>`) and socket.io namespaces,
/// so it is checked exactly as written: PHP sends it verbatim, trimming here would
/// only hide a mismatch.
fn name(field: &Field) -> Result<String, ConfigError> {
    let name = field.required_str(NAME)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some(bad) = name.chars().find(|&c| !allowed(c)) {
        return Err(field.invalid(&format!("contains the character \"{bad}\""), NAME));
    }
    // "." and ".." are path segments that proxies and clients collapse.
    if name.chars().all(|c| c == '.') {
        return Err(field.invalid("is not usable as a URL path segment", NAME));
    }
    Ok(name.to_owned())
}

/// `auth.key`/`auth.secret` are compared byte for byte with what PHP sends, so they are
/// kept as written.
fn auth(field: &Field) -> Result<Auth, ConfigError> {
    let auth = field.object(AUTH)?;
    Ok(Auth {
        key: auth.field("key").required_str(NON_EMPTY)?.to_owned(),
        secret: auth
            .field("secret")
            .redacted()
            .required_str(NON_EMPTY)?
            .to_owned(),
    })
}

fn database(field: &Field) -> Result<DatabaseConfig, ConfigError> {
    let database = field.object(DATABASE)?;
    let kind = database.field("type");
    let name = database.field("name");
    match database_type(&kind) {
        DatabaseType::Sqlite => Ok(DatabaseConfig::Sqlite {
            path: PathBuf::from(name.required_str(SQLITE_PATH)?),
        }),
        DatabaseType::Mysql => mysql(&database),
    }
}

enum DatabaseType {
    Mysql,
    Sqlite,
}

/// `database.type` is ignored, as the ILIAS 11+ server does (it always speaks
/// MySQL/MariaDB, and ILIAS writes `"mysql"` for every MySQL flavour); only the value
/// `"sqlite"` — this server's extension for the demo — selects SQLite.
fn database_type(field: &Field) -> DatabaseType {
    match field.value() {
        Some(Value::String(written)) if written.trim().eq_ignore_ascii_case("sqlite") => {
            DatabaseType::Sqlite
        }
        _ => DatabaseType::Mysql,
    }
}

fn mysql(database: &Object) -> Result<DatabaseConfig, ConfigError> {
    let host = database.field("host").optional_str(HOST)?.map(str::trim);
    let port = mysql_port(&database.field("port"))?;
    let socket = database
        .field("socket")
        .optional_str(SOCKET)?
        .map(str::trim);
    // A host starting with "/" is a socket path (as in PHP's mysqli); an explicit
    // `socket` key wins over both.
    let (host, socket) = match (host, socket) {
        (_, Some(socket)) => (None, Some(PathBuf::from(socket))),
        (Some(host), None) if host.starts_with('/') => (None, Some(PathBuf::from(host))),
        (Some(host), None) => (Some(host.to_owned()), None),
        (None, None) => (Some("localhost".to_owned()), None),
    };
    Ok(DatabaseConfig::Mysql {
        host,
        port,
        socket,
        name: database
            .field("name")
            .required_str(DATABASE_NAME)?
            .to_owned(),
        user: database.field("user").required_str(USER)?.to_owned(),
        pass: password(&database.field("pass").redacted())?,
    })
}

fn mysql_port(field: &Field) -> Result<u16, ConfigError> {
    match field.integer()? {
        None | Some(0) => Ok(MYSQL_DEFAULT_PORT),
        Some(port) => {
            u16::try_from(port).map_err(|_| field.invalid("is out of range (1-65535)", ""))
        }
    }
}

/// The password may legitimately be empty, so only its type is checked.
fn password(field: &Field) -> Result<String, ConfigError> {
    match field.value() {
        None => Ok(String::new()),
        Some(Value::String(pass)) => Ok(pass.clone()),
        Some(_) => Err(field.invalid("is not a string", PASS)),
    }
}

fn ilias_version(field: &Field) -> Result<Option<Generation>, ConfigError> {
    if field.is_unset() {
        return Ok(None);
    }
    let text = match field.value() {
        Some(Value::String(text)) => text.trim().to_owned(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    };
    text.parse()
        .map(Some)
        .map_err(|_| field.invalid("is not a supported ILIAS version", ILIAS_VERSION))
}
