//! server.cfg: where and how the process listens, logs and purges.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::value::{Field, Object, read_object};
use super::{
    ConfigError, DeletionPolicy, DeletionUnit, LogLevel, MetricsListen, Protocol, ServerConfig,
    TimeOfDay, TlsFiles,
};

const ADDRESS: &str = "the IP address or host name to listen on";
const PORT: &str = "a port number (1-65535)";
const PROTOCOL: &str = "\"http\" or \"https\"";
const CERT: &str = "the path of the TLS certificate chain (PEM), required for https";
const KEY: &str = "the path of the TLS private key (PEM), required for https";
const DHPARAM: &str = "the path of a Diffie-Hellman parameter file, or \"\"";
const SUB_DIRECTORY: &str = "a URL path such as \"/servers/chat\"";
const LOG: &str = "a file path, or \"\" for the default";
const LOG_LEVEL: &str = "one of emerg, alert, crit, error, warning, notice, info, debug, silly";
const DELETION_MODE: &str = "1 (delete old messages daily) or 0 (off)";
const DELETION_UNIT: &str = "days, weeks, months or years";
const DELETION_VALUE: &str = "a positive whole number";
const DELETION_TIME: &str = "HH:MM between 00:00 and 23:59";
const METRICS: &str =
    "an object {\"address\": \"127.0.0.1\", \"port\": 9464}, true, or false (no metrics)";
const RECONNECT_WINDOW: &str = "seconds, 0 to 604800 (0 turns re-entry after the grace period off)";
const WRITE_TIMEOUT: &str = "seconds, 1 to 3600";
const USERLIST_INTERVAL: &str =
    "milliseconds, 0 to 10000 (0 sends a user list for every change, as the original)";
/// ILIAS's default session lifetime (`[session] expire` in client.ini.php).
const DEFAULT_RECONNECT_WINDOW_S: u64 = 1800;
/// Appended to "missing" messages of the keys that only matter when purging is on.
const WHEN_PURGING: &str = " (required when deletion_mode is 1)";

/// Reads and validates server.cfg.
pub(super) fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
    let map = read_object(path)?;
    let root = Object::root(path, &map);
    Ok(ServerConfig {
        file: path.to_path_buf(),
        address: address(&root.field("address"))?,
        port: port(&root.field("port"))?,
        protocol: protocol(&root)?,
        sub_directory: sub_directory(&root.field("sub_directory"))?,
        log: root.field("log").optional_path(LOG)?,
        error_log: root.field("error_log").optional_path(LOG)?,
        log_level: log_level(&root.field("log_level"))?,
        deletion: deletion(&root)?,
        edge: super::edge::load(&root)?,
        metrics: metrics(&root.field("metrics"))?,
        reconnect_window: reconnect_window(&root.field("reconnect_window"))?,
        write_timeout: write_timeout(&root.field("write_timeout"))?,
        userlist_interval: userlist_interval(&root.field("userlist_interval"))?,
    })
}

/// `reconnect_window` (an extension of ilias-chat), in seconds.
fn reconnect_window(field: &Field) -> Result<std::time::Duration, ConfigError> {
    match field.integer_in(0, 604_800) {
        Ok(Some(seconds)) => Ok(std::time::Duration::from_secs(
            u64::try_from(seconds)
                .map_err(|_| field.invalid("is out of range", RECONNECT_WINDOW))?,
        )),
        Ok(None) => Ok(std::time::Duration::from_secs(DEFAULT_RECONNECT_WINDOW_S)),
        Err(_) => Err(field.invalid("is not valid", RECONNECT_WINDOW)),
    }
}

/// `write_timeout` (an extension of ilias-chat), in seconds.
fn write_timeout(field: &Field) -> Result<std::time::Duration, ConfigError> {
    match field.integer_in(1, 3600) {
        Ok(Some(seconds)) => Ok(std::time::Duration::from_secs(
            u64::try_from(seconds).map_err(|_| field.invalid("is out of range", WRITE_TIMEOUT))?,
        )),
        Ok(None) => Ok(crate::http::stream::DEFAULT_WRITE_TIMEOUT),
        Err(_) => Err(field.invalid("is not valid", WRITE_TIMEOUT)),
    }
}

/// `userlist_interval` (an extension of ilias-chat), in milliseconds.
fn userlist_interval(field: &Field) -> Result<std::time::Duration, ConfigError> {
    match field.integer_in(0, 10_000) {
        Ok(Some(ms)) => Ok(std::time::Duration::from_millis(
            u64::try_from(ms).map_err(|_| field.invalid("is out of range", USERLIST_INTERVAL))?,
        )),
        Ok(None) => Ok(crate::room::DEFAULT_USERLIST_INTERVAL),
        Err(_) => Err(field.invalid("is not valid", USERLIST_INTERVAL)),
    }
}

/// `address` is kept as written (trimmed); resolving host names is the listener's job.
fn address(field: &Field) -> Result<String, ConfigError> {
    Ok(field.required_str(ADDRESS)?.trim().to_owned())
}

fn port(field: &Field) -> Result<u16, ConfigError> {
    match field.integer_in(1, 65535)? {
        // `integer_in` has checked the range already.
        Some(port) => u16::try_from(port).map_err(|_| field.invalid("is out of range", PORT)),
        None => Err(field.missing(PORT)),
    }
}

/// `protocol`, and for https the TLS files, which must exist now rather than fail
/// later after the listener is up.
fn protocol(root: &Object) -> Result<Protocol, ConfigError> {
    let field = root.field("protocol");
    // ILIAS falls back to http when the setting is empty.
    let Some(protocol) = field.optional_str(PROTOCOL)? else {
        return Ok(Protocol::Http);
    };
    match protocol.trim() {
        "http" => Ok(Protocol::Http),
        "https" => Ok(Protocol::Https(tls_files(root)?)),
        _ => Err(field.invalid("is not a supported protocol", PROTOCOL)),
    }
}

fn tls_files(root: &Object) -> Result<TlsFiles, ConfigError> {
    let cert = root.field("cert");
    let key = root.field("key");
    let dhparam = root.field("dhparam");
    Ok(TlsFiles {
        cert: existing_file(&cert, cert.required_str(CERT)?)?,
        key: existing_file(&key, key.required_str(KEY)?)?,
        dhparam: match dhparam.optional_str(DHPARAM)? {
            Some(path) => Some(existing_file(&dhparam, path)?),
            None => None,
        },
    })
}

/// Checks that `path` names a regular file. Relative paths are relative to the working
/// directory, as with the original server.
fn existing_file(field: &Field, path: &str) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(path);
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => Ok(path),
        Ok(_) => Err(field.error(format!("\"{}\" is not a regular file", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(field.error(format!("file \"{}\" does not exist", path.display())))
        }
        Err(error) => Err(field.error(format!("cannot access \"{}\": {error}", path.display()))),
    }
}

/// `sub_directory`, normalised to `/a/b` (leading slash, no trailing slash); `None` for
/// the root. The original used the value verbatim, so `"chat/"` produced
/// `chat//socket.io`; normalising serves what the operator obviously meant.
fn sub_directory(field: &Field) -> Result<Option<String>, ConfigError> {
    let Some(raw) = field.optional_str(SUB_DIRECTORY)? else {
        return Ok(None);
    };
    let path = raw.trim();
    if path.chars().any(char::is_whitespace) {
        return Err(field.invalid("contains whitespace", SUB_DIRECTORY));
    }
    // `?` and `#` would end the path part of the URL; `..` would let it escape the prefix.
    for forbidden in ["?", "#", ".."] {
        if path.contains(forbidden) {
            return Err(field.invalid(&format!("contains \"{forbidden}\""), SUB_DIRECTORY));
        }
    }
    let path = path.trim_matches('/');
    Ok((!path.is_empty()).then(|| format!("/{path}")))
}

fn log_level(field: &Field) -> Result<LogLevel, ConfigError> {
    match field.optional_str(LOG_LEVEL)? {
        None => Ok(LogLevel::Info),
        Some(text) => text
            .parse()
            .map_err(|_| field.invalid("is not a log level", LOG_LEVEL)),
    }
}

/// The purge settings; the three detail keys are only looked at when purging is on,
/// because ILIAS leaves whatever it had in them when the purge is switched off.
fn deletion(root: &Object) -> Result<Option<DeletionPolicy>, ConfigError> {
    if !deletion_mode(&root.field("deletion_mode"))? {
        return Ok(None);
    }
    Ok(Some(DeletionPolicy {
        unit: deletion_unit(&root.field("deletion_unit"))?,
        value: deletion_value(&root.field("deletion_value"))?,
        time: deletion_time(&root.field("deletion_time"))?,
    }))
}

/// ILIAS writes `1`/`0`; older setups wrote `"1"` or booleans.
fn deletion_mode(field: &Field) -> Result<bool, ConfigError> {
    let on = match field.value() {
        None => Some(false),
        Some(Value::Bool(on)) => Some(*on),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Some(Value::String(text)) => match text.trim() {
            "1" => Some(true),
            "0" | "" => Some(false),
            _ => None,
        },
        Some(_) => None,
    };
    on.ok_or_else(|| field.invalid("is not valid", DELETION_MODE))
}

fn deletion_unit(field: &Field) -> Result<DeletionUnit, ConfigError> {
    field
        .required_str(&format!("{DELETION_UNIT}{WHEN_PURGING}"))?
        .parse()
        .map_err(|_| field.invalid("is not a time unit", DELETION_UNIT))
}

fn deletion_value(field: &Field) -> Result<u32, ConfigError> {
    match field.integer()? {
        None => Err(field.missing(&format!("{DELETION_VALUE}{WHEN_PURGING}"))),
        Some(value) if value < 1 => Err(field.invalid("is not positive", DELETION_VALUE)),
        Some(value) => {
            u32::try_from(value).map_err(|_| field.invalid("is too large", "at most 4294967295"))
        }
    }
}

fn deletion_time(field: &Field) -> Result<TimeOfDay, ConfigError> {
    field
        .required_str(&format!("{DELETION_TIME}{WHEN_PURGING}"))?
        .parse()
        .map_err(|_| field.invalid("is not a valid time", DELETION_TIME))
}

/// The `metrics` extension: absent, `null` or `false` serves no metrics; `true` or an
/// object serves them, on 127.0.0.1:9464 unless the object says otherwise.
fn metrics(field: &Field) -> Result<Option<MetricsListen>, ConfigError> {
    let default = MetricsListen {
        address: MetricsListen::DEFAULT_ADDRESS.to_owned(),
        port: MetricsListen::DEFAULT_PORT,
    };
    match field.value() {
        None | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(default)),
        Some(Value::Object(_)) => {
            let metrics = field.object(METRICS)?;
            let address = metrics
                .field("address")
                .optional_str(ADDRESS)?
                .map(|a| a.trim().to_owned())
                .unwrap_or(default.address);
            let port = match metrics.field("port").integer_in(1, 65535)? {
                Some(port) => u16::try_from(port).unwrap_or(default.port),
                None => default.port,
            };
            Ok(Some(MetricsListen { address, port }))
        }
        Some(_) => Err(field.invalid("is not valid", METRICS)),
    }
}
