//! server.cfg, key by key.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Scratch, check_key, error_of, fixture};
use crate::config::{
    DeletionPolicy, DeletionUnit, LogLevel, Protocol, ServerConfig, TimeOfDay, TlsFiles,
    load_server,
};

/// The smallest valid server.cfg.
fn base() -> Value {
    json!({ "address": "127.0.0.1", "port": 8585 })
}

/// A valid https server.cfg using the fixture certificate (absolute paths, so the
/// test does not depend on the working directory).
fn https_base() -> Value {
    json!({
        "address": "127.0.0.1",
        "port": 8443,
        "protocol": "https",
        "cert": tls("chat.example.org.pem"),
        "key": tls("chat.example.org.key"),
    })
}

fn tls(name: &str) -> String {
    fixture("tls").join(name).display().to_string()
}

/// A server.cfg with purging on and valid purge settings.
fn purging_base() -> Value {
    json!({
        "address": "127.0.0.1",
        "port": 8585,
        "deletion_mode": 1,
        "deletion_unit": "months",
        "deletion_value": 3,
        "deletion_time": "03:00",
    })
}

const ADDRESS: &str = "expected the IP address or host name to listen on";

#[test]
fn address() {
    check_key(
        load_server,
        &base(),
        "address",
        |c: &ServerConfig| c.address.clone(),
        vec![
            (Some(json!("127.0.0.1")), "127.0.0.1".to_owned()),
            (
                Some(json!("chat.example.org")),
                "chat.example.org".to_owned(),
            ),
            (Some(json!(" ::1 ")), "::1".to_owned()),
            (Some(json!("0.0.0.0")), "0.0.0.0".to_owned()),
        ],
        vec![
            (None, &format!("address: is missing; {ADDRESS}")),
            (Some(json!(null)), &format!("address: is null; {ADDRESS}")),
            (Some(json!("")), &format!("address: is empty; {ADDRESS}")),
            (Some(json!("  ")), &format!("address: is empty; {ADDRESS}")),
            (
                Some(json!(8080)),
                &format!("address: 8080 is not a string; {ADDRESS}"),
            ),
        ],
    );
}

#[test]
fn port() {
    check_key(
        load_server,
        &base(),
        "port",
        |c: &ServerConfig| c.port,
        vec![
            (Some(json!(8585)), 8585),
            (Some(json!("8585")), 8585),
            (Some(json!(" 8585 ")), 8585),
            (Some(json!(1)), 1),
            (Some(json!(65535)), 65535),
            (Some(json!(8585.0)), 8585),
        ],
        vec![
            (None, "port: is missing; expected a port number (1-65535)"),
            (
                Some(json!("")),
                "port: is empty; expected a port number (1-65535)",
            ),
            (Some(json!(0)), "port: 0 is out of range (1-65535)"),
            (Some(json!(70000)), "port: 70000 is out of range (1-65535)"),
            (
                Some(json!("70000")),
                "port: \"70000\" is out of range (1-65535)",
            ),
            (Some(json!(-1)), "port: -1 is out of range (1-65535)"),
            (
                Some(json!("123456789012345678901234567890123456789012345")),
                "port: \"123456789012345678901234567890123456789012345\" is out of range (1-65535)",
            ),
            (Some(json!("abc")), "port: \"abc\" is not a number"),
            (Some(json!("80a")), "port: \"80a\" is not a number"),
            (Some(json!(true)), "port: true is not a number"),
            (Some(json!([8585])), "port: [8585] is not a number"),
            (Some(json!(85.5)), "port: 85.5 is not a whole number"),
            (Some(json!("85.5")), "port: \"85.5\" is not a whole number"),
        ],
    );
}

const PROTOCOL: &str = "expected \"http\" or \"https\"";

#[test]
fn protocol_http() {
    check_key(
        load_server,
        &base(),
        "protocol",
        |c: &ServerConfig| c.protocol.clone(),
        vec![
            (None, Protocol::Http),
            (Some(json!(null)), Protocol::Http),
            (Some(json!("")), Protocol::Http),
            (Some(json!("http")), Protocol::Http),
            (Some(json!(" http ")), Protocol::Http),
        ],
        vec![
            (
                Some(json!("ftp")),
                &format!("protocol: \"ftp\" is not a supported protocol; {PROTOCOL}"),
            ),
            (
                Some(json!("HTTP")),
                &format!("protocol: \"HTTP\" is not a supported protocol; {PROTOCOL}"),
            ),
            (
                Some(json!("https://")),
                &format!("protocol: \"https://\" is not a supported protocol; {PROTOCOL}"),
            ),
            (
                Some(json!(1)),
                &format!("protocol: 1 is not a string; {PROTOCOL}"),
            ),
        ],
    );
}

#[test]
fn http_ignores_tls_keys() {
    let mut document = base();
    document["cert"] = json!("/does/not/exist.pem");
    document["key"] = json!(42);
    document["dhparam"] = json!("/does/not/exist/dhparam.pem");
    let scratch = Scratch::new();
    let config = load_server(&scratch.write_json("server", &document)).unwrap();
    assert_eq!(config.protocol, Protocol::Http);
}

const CERT: &str = "expected the path of the TLS certificate chain (PEM), required for https";
const KEY: &str = "expected the path of the TLS private key (PEM), required for https";

/// `cert`, `key` and `dhparam` with protocol https.
#[test]
fn tls_files() {
    let files = |dhparam: Option<&str>| {
        Protocol::Https(TlsFiles {
            cert: PathBuf::from(tls("chat.example.org.pem")),
            key: PathBuf::from(tls("chat.example.org.key")),
            dhparam: dhparam.map(|name| PathBuf::from(tls(name))),
        })
    };
    check_key(
        load_server,
        &https_base(),
        "dhparam",
        |c: &ServerConfig| c.protocol.clone(),
        vec![
            (None, files(None)),
            (Some(json!("")), files(None)),
            (Some(json!(tls("dhparam.pem"))), files(Some("dhparam.pem"))),
        ],
        vec![
            (
                Some(json!("/does/not/exist/dhparam.pem")),
                "dhparam: file \"/does/not/exist/dhparam.pem\" does not exist",
            ),
            (
                Some(json!(2048)),
                "dhparam: 2048 is not a string; expected the path of a Diffie-Hellman parameter file, or \"\"",
            ),
        ],
    );
    let directory = fixture("tls").display().to_string();
    check_key(
        load_server,
        &https_base(),
        "cert",
        |c: &ServerConfig| c.protocol.clone(),
        vec![(Some(json!(tls("chat.example.org.pem"))), files(None))],
        vec![
            (None, &format!("cert: is missing; {CERT}")),
            (Some(json!("")), &format!("cert: is empty; {CERT}")),
            (
                Some(json!("/does/not/exist/chat.pem")),
                "cert: file \"/does/not/exist/chat.pem\" does not exist",
            ),
            (
                Some(json!(directory)),
                &format!("cert: \"{directory}\" is not a regular file"),
            ),
        ],
    );
    check_key(
        load_server,
        &https_base(),
        "key",
        |c: &ServerConfig| c.protocol.clone(),
        vec![(Some(json!(tls("chat.example.org.key"))), files(None))],
        vec![
            (None, &format!("key: is missing; {KEY}")),
            (Some(json!(null)), &format!("key: is null; {KEY}")),
            (
                Some(json!("/does/not/exist/chat.key")),
                "key: file \"/does/not/exist/chat.key\" does not exist",
            ),
        ],
    );
}

const SUB_DIRECTORY: &str = "expected a URL path such as \"/servers/chat\"";

#[test]
fn sub_directory() {
    let some = |path: &str| Some(path.to_owned());
    check_key(
        load_server,
        &base(),
        "sub_directory",
        |c: &ServerConfig| c.sub_directory.clone(),
        vec![
            (None, None),
            (Some(json!(null)), None),
            (Some(json!("")), None),
            (Some(json!("/")), None),
            (Some(json!("//")), None),
            (Some(json!("/servers/chat")), some("/servers/chat")),
            (Some(json!("servers/chat/")), some("/servers/chat")),
            (Some(json!("/chat//")), some("/chat")),
            (Some(json!(" /chat ")), some("/chat")),
        ],
        vec![
            (
                Some(json!("/chat room")),
                &format!("sub_directory: \"/chat room\" contains whitespace; {SUB_DIRECTORY}"),
            ),
            (
                Some(json!("/chat?x=1")),
                &format!("sub_directory: \"/chat?x=1\" contains \"?\"; {SUB_DIRECTORY}"),
            ),
            (
                Some(json!("/chat#top")),
                &format!("sub_directory: \"/chat#top\" contains \"#\"; {SUB_DIRECTORY}"),
            ),
            (
                Some(json!("/chat/../admin")),
                &format!("sub_directory: \"/chat/../admin\" contains \"..\"; {SUB_DIRECTORY}"),
            ),
            (
                Some(json!(5)),
                &format!("sub_directory: 5 is not a string; {SUB_DIRECTORY}"),
            ),
        ],
    );
}

/// `log` and `error_log` follow the same rules, including the `"log": 0` quirk.
#[test]
fn log_paths() {
    for key in ["log", "error_log"] {
        let expected = "expected a file path, or \"\" for the default";
        check_key(
            load_server,
            &base(),
            key,
            |c: &ServerConfig| {
                if key == "log" {
                    c.log.clone()
                } else {
                    c.error_log.clone()
                }
            },
            vec![
                (None, None),
                (Some(json!("")), None),
                (Some(json!(0)), None),
                (Some(json!(false)), None),
                (Some(json!(null)), None),
                (
                    Some(json!("/var/log/ilias/chat.log")),
                    Some(PathBuf::from("/var/log/ilias/chat.log")),
                ),
                (Some(json!("chat.log")), Some(PathBuf::from("chat.log"))),
            ],
            vec![
                (
                    Some(json!(1)),
                    &format!("{key}: 1 is not a string; {expected}"),
                ),
                (
                    Some(json!(true)),
                    &format!("{key}: true is not a string; {expected}"),
                ),
                (
                    Some(json!({ "path": "/x" })),
                    &format!("{key}: {{\"path\":\"/x\"}} is not a string; {expected}"),
                ),
            ],
        );
    }
}

const LOG_LEVELS: &str =
    "expected one of emerg, alert, crit, error, warning, notice, info, debug, silly";

#[test]
fn log_level() {
    let mut valid = vec![
        (None, LogLevel::Info),
        (Some(json!("")), LogLevel::Info),
        (Some(json!(null)), LogLevel::Info),
        (Some(json!("WARNING")), LogLevel::Warning),
        (Some(json!("warn")), LogLevel::Warning),
        (Some(json!("verbose")), LogLevel::Debug),
        (Some(json!(" Debug ")), LogLevel::Debug),
    ];
    for level in LogLevel::ALL {
        valid.push((Some(json!(level.as_str())), level));
    }
    check_key(
        load_server,
        &base(),
        "log_level",
        |c: &ServerConfig| c.log_level,
        valid,
        vec![
            (
                Some(json!("loud")),
                &format!("log_level: \"loud\" is not a log level; {LOG_LEVELS}"),
            ),
            (
                Some(json!("trace")),
                &format!("log_level: \"trace\" is not a log level; {LOG_LEVELS}"),
            ),
            (
                Some(json!(3)),
                &format!("log_level: 3 is not a string; {LOG_LEVELS}"),
            ),
        ],
    );
}

const DELETION_MODE: &str = "expected 1 (delete old messages daily) or 0 (off)";

#[test]
fn deletion_mode() {
    check_key(
        load_server,
        &purging_base(),
        "deletion_mode",
        |c: &ServerConfig| c.deletion.is_some(),
        vec![
            (Some(json!(1)), true),
            (Some(json!("1")), true),
            (Some(json!(" 1 ")), true),
            (Some(json!(true)), true),
            (Some(json!(0)), false),
            (Some(json!("0")), false),
            (Some(json!("")), false),
            (Some(json!(false)), false),
            (Some(json!(null)), false),
            (None, false),
        ],
        vec![
            (
                Some(json!(2)),
                &format!("deletion_mode: 2 is not valid; {DELETION_MODE}"),
            ),
            (
                Some(json!("yes")),
                &format!("deletion_mode: \"yes\" is not valid; {DELETION_MODE}"),
            ),
            (
                Some(json!("true")),
                &format!("deletion_mode: \"true\" is not valid; {DELETION_MODE}"),
            ),
            (
                Some(json!([1])),
                &format!("deletion_mode: [1] is not valid; {DELETION_MODE}"),
            ),
        ],
    );
}

#[test]
fn deletion_policy_when_on() {
    let scratch = Scratch::new();
    let config = load_server(&scratch.write_json("server", &purging_base())).unwrap();
    assert_eq!(
        config.deletion,
        Some(DeletionPolicy {
            unit: DeletionUnit::Months,
            value: 3,
            time: TimeOfDay { hour: 3, minute: 0 },
        })
    );
}

/// ILIAS leaves stale values in the purge keys when purging is switched off.
#[test]
fn deletion_keys_ignored_when_off() {
    let scratch = Scratch::new();
    for mode in [json!(0), json!("0"), json!(""), json!(false)] {
        let document = json!({
            "address": "127.0.0.1",
            "port": 8585,
            "deletion_mode": mode,
            "deletion_unit": "fortnights",
            "deletion_value": -5,
            "deletion_time": "25:99",
        });
        let config = load_server(&scratch.write_json("server", &document)).unwrap();
        assert_eq!(config.deletion, None, "deletion_mode = {mode}");
    }
}

const WHEN_PURGING: &str = " (required when deletion_mode is 1)";
const UNITS: &str = "expected days, weeks, months or years";

#[test]
fn deletion_unit() {
    let unit = |c: &ServerConfig| c.deletion.map(|policy| policy.unit);
    let mut valid = Vec::new();
    for (forms, unit) in [
        (["days", "day", "Days"], DeletionUnit::Days),
        (["weeks", "week", "WEEKS"], DeletionUnit::Weeks),
        (["months", "month", " months "], DeletionUnit::Months),
        (["years", "year", "Year"], DeletionUnit::Years),
    ] {
        for form in forms {
            valid.push((Some(json!(form)), Some(unit)));
        }
    }
    check_key(
        load_server,
        &purging_base(),
        "deletion_unit",
        unit,
        valid,
        vec![
            (
                None,
                &format!("deletion_unit: is missing; {UNITS}{WHEN_PURGING}"),
            ),
            (
                Some(json!("")),
                &format!("deletion_unit: is empty; {UNITS}{WHEN_PURGING}"),
            ),
            (
                Some(json!("fortnights")),
                &format!("deletion_unit: \"fortnights\" is not a time unit; {UNITS}"),
            ),
            (
                Some(json!(3)),
                &format!("deletion_unit: 3 is not a string; {UNITS}{WHEN_PURGING}"),
            ),
        ],
    );
}

#[test]
fn deletion_value() {
    let expected = "expected a positive whole number";
    check_key(
        load_server,
        &purging_base(),
        "deletion_value",
        |c: &ServerConfig| c.deletion.map(|policy| policy.value),
        vec![
            (Some(json!(3)), Some(3)),
            (Some(json!("3")), Some(3)),
            (Some(json!(1)), Some(1)),
            (Some(json!(4294967295_u64)), Some(u32::MAX)),
        ],
        vec![
            (
                None,
                &format!("deletion_value: is missing; {expected}{WHEN_PURGING}"),
            ),
            (
                Some(json!("")),
                &format!("deletion_value: is empty; {expected}{WHEN_PURGING}"),
            ),
            (
                Some(json!(0)),
                &format!("deletion_value: 0 is not positive; {expected}"),
            ),
            (
                Some(json!("-2")),
                &format!("deletion_value: \"-2\" is not positive; {expected}"),
            ),
            (Some(json!("x")), "deletion_value: \"x\" is not a number"),
            (
                Some(json!(1.5)),
                "deletion_value: 1.5 is not a whole number",
            ),
            (
                Some(json!(4294967296_u64)),
                "deletion_value: 4294967296 is too large; expected at most 4294967295",
            ),
        ],
    );
}

const TIME: &str = "expected HH:MM between 00:00 and 23:59";

#[test]
fn deletion_time() {
    let at = |hour, minute| Some(TimeOfDay { hour, minute });
    let mut invalid: Vec<(Option<Value>, String)> = vec![
        (
            None,
            format!("deletion_time: is missing; {TIME}{WHEN_PURGING}"),
        ),
        (
            Some(json!("")),
            format!("deletion_time: is empty; {TIME}{WHEN_PURGING}"),
        ),
        (
            Some(json!(300)),
            format!("deletion_time: 300 is not a string; {TIME}{WHEN_PURGING}"),
        ),
    ];
    for bad in [
        "24:00", "12:60", "3", "0300", "03:00:00", "3:5", "003:00", "-1:00", "+3:00", "aa:bb",
        "03:", ":30",
    ] {
        invalid.push((
            Some(json!(bad)),
            format!("deletion_time: \"{bad}\" is not a valid time; {TIME}"),
        ));
    }
    check_key(
        load_server,
        &purging_base(),
        "deletion_time",
        |c: &ServerConfig| c.deletion.map(|policy| policy.time),
        vec![
            (Some(json!("03:00")), at(3, 0)),
            (Some(json!("3:00")), at(3, 0)),
            (Some(json!("00:00")), at(0, 0)),
            (Some(json!("23:59")), at(23, 59)),
            (Some(json!(" 04:15 ")), at(4, 15)),
        ],
        invalid
            .iter()
            .map(|(form, message)| (form.clone(), message.as_str()))
            .collect(),
    );
}

#[test]
fn unknown_keys_are_ignored() {
    let mut document = base();
    for (key, value) in [
        ("ilias_proxy", json!(1)),
        ("ilias_url", json!("https://ilias.example.org")),
        ("client_proxy", json!(0)),
        ("client_url", json!("https://chat.example.org")),
        ("something_new", json!({ "nested": [1, 2, 3] })),
    ] {
        document[key] = value;
    }
    let scratch = Scratch::new();
    let path = scratch.write_json("server", &document);
    let config = load_server(&path).unwrap();
    assert_eq!(
        config,
        ServerConfig {
            file: path,
            address: "127.0.0.1".to_owned(),
            port: 8585,
            protocol: Protocol::Http,
            sub_directory: None,
            log: None,
            error_log: None,
            log_level: LogLevel::Info,
            deletion: None,
            edge: crate::config::EdgeLimits::default(),
            metrics: None,
            reconnect_window: std::time::Duration::from_secs(1800),
            userlist_interval: std::time::Duration::from_millis(100),
            write_timeout: std::time::Duration::from_secs(30),
        }
    );
}

#[test]
fn whole_file_problems() {
    let scratch = Scratch::new();
    let error = |contents: &str| error_of(load_server, &scratch, contents);
    assert_eq!(
        error("{\n    \"address\": \"127.0.0.1\"\n    \"port\": 8585\n}\n"),
        "FILE: not valid JSON: expected `,` or `}` at line 3 column 5"
    );
    assert_eq!(
        error(""),
        "FILE: not valid JSON: EOF while parsing a value at line 1 column 0"
    );
    assert_eq!(
        error("[\"127.0.0.1\", 8585]"),
        "FILE: not valid JSON: the file contains an array; expected a JSON object { ... }"
    );
    assert_eq!(
        error("\"server\""),
        "FILE: not valid JSON: the file contains a string; expected a JSON object { ... }"
    );
    assert_eq!(
        error("{}"),
        "FILE: address: is missing; expected the IP address or host name to listen on"
    );

    let missing = scratch.dir().join("missing.cfg");
    let message = load_server(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read: ", missing.display())),
        "{message}"
    );
}

#[test]
fn byte_order_mark_is_tolerated() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "server",
        "\u{feff}{\"address\": \"127.0.0.1\", \"port\": 8585}",
    );
    assert_eq!(load_server(&path).unwrap().port, 8585);
}

/// PHP escapes `/` as `\/`; the escapes must disappear.
#[test]
fn escaped_slashes() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "server",
        r#"{"address": "127.0.0.1", "port": 8585, "log": "\/var\/log\/chat.log", "sub_directory": "\/chat"}"#,
    );
    let config = load_server(&path).unwrap();
    assert_eq!(config.log, Some(PathBuf::from("/var/log/chat.log")));
    assert_eq!(config.sub_directory.as_deref(), Some("/chat"));
}

#[test]
fn write_timeout() {
    use std::time::Duration;
    check_key(
        load_server,
        &base(),
        "write_timeout",
        |c: &ServerConfig| c.write_timeout,
        vec![
            (None, Duration::from_secs(30)),
            (Some(json!(5)), Duration::from_secs(5)),
            (Some(json!("60")), Duration::from_secs(60)),
            (Some(json!(3600)), Duration::from_secs(3600)),
        ],
        vec![
            (
                Some(json!(0)),
                "write_timeout: 0 is not valid; expected seconds, 1 to 3600",
            ),
            (
                Some(json!(3601)),
                "write_timeout: 3601 is not valid; expected seconds, 1 to 3600",
            ),
            (
                Some(json!("soon")),
                "write_timeout: \"soon\" is not valid; expected seconds, 1 to 3600",
            ),
        ],
    );
}

#[test]
fn userlist_interval() {
    use std::time::Duration;
    let expected =
        "expected milliseconds, 0 to 10000 (0 sends a user list for every change, as the original)";
    check_key(
        load_server,
        &base(),
        "userlist_interval",
        |c: &ServerConfig| c.userlist_interval,
        vec![
            (None, Duration::from_millis(100)),
            (Some(json!(0)), Duration::ZERO),
            (Some(json!("250")), Duration::from_millis(250)),
            (Some(json!(10000)), Duration::from_secs(10)),
        ],
        vec![
            (
                Some(json!(-1)),
                &format!("userlist_interval: -1 is not valid; {expected}"),
            ),
            (
                Some(json!(10001)),
                &format!("userlist_interval: 10001 is not valid; {expected}"),
            ),
            (
                Some(json!(0.5)),
                &format!("userlist_interval: 0.5 is not valid; {expected}"),
            ),
        ],
    );
}
