//! client.cfg key by key, and `load_clients`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Scratch, check_key, error_of};
use crate::config::{
    Auth, ClientConfig, ConfigError, DatabaseConfig, Generation, load_client, load_clients,
};

/// The smallest valid client.cfg.
fn base() -> Value {
    json!({
        "name": "onscreen",
        "auth": { "key": "the-key", "secret": "the-secret" },
        "database": {
            "type": "mysql",
            "host": "localhost",
            "port": 3306,
            "name": "ilias",
            "user": "ilias",
            "pass": "the-password",
        },
    })
}

const NAME: &str =
    "expected the instance name (ASCII letters, digits, \"-\", \"_\" and \".\" only)";

#[test]
fn name() {
    let mut invalid = vec![
        (None, format!("name: is missing; {NAME}")),
        (Some(json!("")), format!("name: is empty; {NAME}")),
        (Some(json!(5)), format!("name: 5 is not a string; {NAME}")),
        (
            Some(json!("..")),
            format!("name: \"..\" is not usable as a URL path segment; {NAME}"),
        ),
    ];
    for (name, bad) in [
        ("on screen", ' '),
        (" onscreen", ' '),
        ("a/b", '/'),
        ("a?b", '?'),
        ("a%20b", '%'),
        ("kürbis", 'ü'),
    ] {
        invalid.push((
            Some(json!(name)),
            format!("name: \"{name}\" contains the character \"{bad}\"; {NAME}"),
        ));
    }
    check_key(
        load_client,
        &base(),
        "name",
        |c: &ClientConfig| c.name.clone(),
        vec![
            (Some(json!("onscreen")), "onscreen".to_owned()),
            (Some(json!("my-ilias_2.0")), "my-ilias_2.0".to_owned()),
            (Some(json!("A")), "A".to_owned()),
        ],
        invalid
            .iter()
            .map(|(form, message)| (form.clone(), message.as_str()))
            .collect(),
    );
}

const AUTH: &str = "expected an object with \"key\" and \"secret\"";

#[test]
fn auth() {
    check_key(
        load_client,
        &base(),
        "auth",
        |c: &ClientConfig| c.auth.clone(),
        vec![(
            Some(json!({ "key": "k", "secret": "s", "extra": 1 })),
            Auth {
                key: "k".to_owned(),
                secret: "s".to_owned(),
            },
        )],
        vec![
            (None, &format!("auth: is missing; {AUTH}")),
            (Some(json!(null)), &format!("auth: is null; {AUTH}")),
            // Not echoed: a misplaced secret must not end up in a log.
            (
                Some(json!("k:s")),
                &format!("auth: is a string, which is not an object; {AUTH}"),
            ),
            (
                Some(json!(["k", "s"])),
                &format!("auth: is an array, which is not an object; {AUTH}"),
            ),
        ],
    );
}

#[test]
fn auth_key_and_secret() {
    let expected = "expected a non-empty string";
    check_key(
        load_client,
        &base(),
        "auth.key",
        |c: &ClientConfig| c.auth.key.clone(),
        vec![(
            Some(json!("0cdc8989-d5f0-1111-4444-244320d9dabc")),
            "0cdc8989-d5f0-1111-4444-244320d9dabc".to_owned(),
        )],
        vec![
            (None, &format!("auth.key: is missing; {expected}")),
            (Some(json!("")), &format!("auth.key: is empty; {expected}")),
            (
                Some(json!(5)),
                &format!("auth.key: 5 is not a string; {expected}"),
            ),
        ],
    );
    check_key(
        load_client,
        &base(),
        "auth.secret",
        |c: &ClientConfig| c.auth.secret.clone(),
        vec![(Some(json!(" s e c r e t ")), " s e c r e t ".to_owned())],
        vec![
            (None, &format!("auth.secret: is missing; {expected}")),
            (
                Some(json!("")),
                &format!("auth.secret: is empty; {expected}"),
            ),
            (
                Some(json!(123456789)),
                &format!("auth.secret: is a number, which is not a string; {expected}"),
            ),
        ],
    );
}

const DATABASE: &str = "expected an object with type, host, port, name, user and pass";

#[test]
fn database() {
    check_key(
        load_client,
        &base(),
        "database",
        |c: &ClientConfig| c.database.describe(),
        vec![(
            Some(json!({ "type": "mysql", "name": "db", "user": "u" })),
            "mysql://u@localhost:3306/db".to_owned(),
        )],
        vec![
            (None, &format!("database: is missing; {DATABASE}")),
            // Not echoed: a connection URL may contain the password.
            (
                Some(json!("mysql://u:pw@localhost/db")),
                &format!("database: is a string, which is not an object; {DATABASE}"),
            ),
        ],
    );
}

#[test]
fn database_type() {
    // Ignored, as the ILIAS 11+ server does: every value means MySQL/MariaDB, except
    // this server's demo extension "sqlite".
    let mut valid = Vec::new();
    for form in [
        Some(json!("mysql")),
        Some(json!("MySQL")),
        Some(json!("innodb")),
        Some(json!("pdo-mysql-galera")),
        Some(json!("mariadb")),
        Some(json!("postgres")),
        Some(json!("")),
        Some(json!(1)),
        None,
    ] {
        valid.push((form, "mysql://ilias@localhost:3306/ilias".to_owned()));
    }
    valid.push((Some(json!("sqlite")), "sqlite://ilias".to_owned()));
    valid.push((Some(json!(" SQLite ")), "sqlite://ilias".to_owned()));
    let invalid: [(Option<Value>, String); 0] = [];
    check_key(
        load_client,
        &base(),
        "database.type",
        |c: &ClientConfig| c.database.describe(),
        valid,
        invalid
            .iter()
            .map(|(form, message)| (form.clone(), message.as_str()))
            .collect(),
    );
}

/// SQLite (demo mode): `name` is the file path and the MySQL keys are not looked at.
#[test]
fn sqlite() {
    let sqlite = json!({
        "type": "sqlite",
        "name": "/var/lib/ilias-chat/demo.sqlite",
        "host": 5,
        "port": "junk",
        "user": [],
        "pass": false,
    });
    let document = super::with_key(&base(), "database", Some(&sqlite));
    check_key(
        load_client,
        &document,
        "database.name",
        |c: &ClientConfig| c.database.clone(),
        vec![(
            Some(json!("/var/lib/ilias-chat/demo.sqlite")),
            DatabaseConfig::Sqlite {
                path: PathBuf::from("/var/lib/ilias-chat/demo.sqlite"),
            },
        )],
        vec![
            (
                None,
                "database.name: is missing; expected the path of the SQLite database file",
            ),
            (
                Some(json!("")),
                "database.name: is empty; expected the path of the SQLite database file",
            ),
        ],
    );
}

/// `(host, socket)` of a MySQL database.
fn endpoint(c: &ClientConfig) -> (Option<String>, Option<PathBuf>) {
    match &c.database {
        DatabaseConfig::Mysql { host, socket, .. } => (host.clone(), socket.clone()),
        DatabaseConfig::Sqlite { .. } => panic!("not MySQL"),
    }
}

fn tcp(host: &str) -> (Option<String>, Option<PathBuf>) {
    (Some(host.to_owned()), None)
}

fn unix(path: &str) -> (Option<String>, Option<PathBuf>) {
    (None, Some(PathBuf::from(path)))
}

#[test]
fn database_host() {
    let expected = "expected a host name, an IP address or the path of a unix socket";
    check_key(
        load_client,
        &base(),
        "database.host",
        endpoint,
        vec![
            (Some(json!("localhost")), tcp("localhost")),
            (Some(json!("db.example.org")), tcp("db.example.org")),
            (Some(json!(" 10.0.0.5 ")), tcp("10.0.0.5")),
            (Some(json!("")), tcp("localhost")),
            (None, tcp("localhost")),
            (Some(json!(null)), tcp("localhost")),
            (
                Some(json!("/run/mysqld/mysqld.sock")),
                unix("/run/mysqld/mysqld.sock"),
            ),
        ],
        vec![(
            Some(json!(5)),
            &format!("database.host: 5 is not a string; {expected}"),
        )],
    );
}

#[test]
fn database_socket() {
    check_key(
        load_client,
        &base(),
        "database.socket",
        endpoint,
        vec![
            (None, tcp("localhost")),
            (Some(json!("")), tcp("localhost")),
            (Some(json!("/tmp/mysql.sock")), unix("/tmp/mysql.sock")),
        ],
        vec![(
            Some(json!(true)),
            "database.socket: true is not a string; expected the path of the MySQL unix socket, or \"\"",
        )],
    );
}

#[test]
fn database_port() {
    let port = |c: &ClientConfig| match &c.database {
        DatabaseConfig::Mysql { port, .. } => *port,
        DatabaseConfig::Sqlite { .. } => panic!("not MySQL"),
    };
    check_key(
        load_client,
        &base(),
        "database.port",
        port,
        vec![
            (Some(json!(3306)), 3306),
            (Some(json!("3307")), 3307),
            (Some(json!(65535)), 65535),
            (Some(json!(0)), 3306),
            (Some(json!("0")), 3306),
            (Some(json!("")), 3306),
            (Some(json!(null)), 3306),
            (None, 3306),
        ],
        vec![
            (
                Some(json!(70000)),
                "database.port: 70000 is out of range (1-65535)",
            ),
            (
                Some(json!(-1)),
                "database.port: -1 is out of range (1-65535)",
            ),
            (Some(json!("80a")), "database.port: \"80a\" is not a number"),
            (Some(json!(true)), "database.port: true is not a number"),
        ],
    );
}

#[test]
fn database_name_and_user() {
    for (key, expected) in [
        ("name", "expected the name of the ILIAS database"),
        ("user", "expected the database user"),
    ] {
        let dotted = format!("database.{key}");
        check_key(
            load_client,
            &base(),
            &dotted,
            |c: &ClientConfig| c.database.describe(),
            vec![(
                Some(json!("ilias")),
                "mysql://ilias@localhost:3306/ilias".to_owned(),
            )],
            vec![
                (None, &format!("{dotted}: is missing; {expected}")),
                (Some(json!("")), &format!("{dotted}: is empty; {expected}")),
                (
                    Some(json!(5)),
                    &format!("{dotted}: 5 is not a string; {expected}"),
                ),
            ],
        );
    }
}

#[test]
fn database_pass() {
    let pass = |c: &ClientConfig| match &c.database {
        DatabaseConfig::Mysql { pass, .. } => pass.clone(),
        DatabaseConfig::Sqlite { .. } => panic!("not MySQL"),
    };
    check_key(
        load_client,
        &base(),
        "database.pass",
        pass,
        vec![
            (Some(json!("geheim")), "geheim".to_owned()),
            (Some(json!(" with spaces ")), " with spaces ".to_owned()),
            (Some(json!("")), String::new()),
            (Some(json!(null)), String::new()),
            (None, String::new()),
        ],
        vec![(
            Some(json!(1234)),
            "database.pass: is a number, which is not a string; expected a string (may be empty)",
        )],
    );
}

const VERSION: &str =
    "expected 8, 9, 10, 11 or 12 (or leave it out to detect the version from the database)";

#[test]
fn ilias_version() {
    let mut invalid = Vec::new();
    for form in [
        json!(7),
        json!("13"),
        json!("9.1"),
        json!(9.5),
        json!(true),
        json!("ilias9"),
    ] {
        let message = format!("ilias_version: {form} is not a supported ILIAS version; {VERSION}");
        invalid.push((Some(form), message));
    }
    check_key(
        load_client,
        &base(),
        "ilias_version",
        |c: &ClientConfig| c.ilias_version,
        vec![
            (None, None),
            (Some(json!(null)), None),
            (Some(json!("")), None),
            (Some(json!(8)), Some(Generation::Ilias8)),
            (Some(json!("8")), Some(Generation::Ilias8)),
            (Some(json!(9)), Some(Generation::Ilias9)),
            (Some(json!("9")), Some(Generation::Ilias9)),
            (Some(json!(10)), Some(Generation::Ilias10)),
            (Some(json!(" 10 ")), Some(Generation::Ilias10)),
            (Some(json!(11)), Some(Generation::Ilias11)),
            (Some(json!("11")), Some(Generation::Ilias11)),
            (Some(json!(12)), Some(Generation::Ilias12)),
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
        ("enable_osc", json!(true)),
        ("enable_browser_notifications", json!(true)),
        ("conversation_idle_state_in_minutes", json!(1)),
        ("chat_enabled", json!(true)),
        ("enable_smilies", json!(false)),
        ("osd_intervall", json!(60)),
        ("client", json!("default")),
        ("future_key", json!({ "a": [1] })),
    ] {
        document[key] = value;
    }
    document["database"]["charset"] = json!("utf8mb4");
    let scratch = Scratch::new();
    let path = scratch.write_json("client", &document);
    assert_eq!(
        load_client(&path).unwrap(),
        ClientConfig {
            file: path,
            name: "onscreen".to_owned(),
            auth: Auth {
                key: "the-key".to_owned(),
                secret: "the-secret".to_owned(),
            },
            database: DatabaseConfig::Mysql {
                host: Some("localhost".to_owned()),
                port: 3306,
                socket: None,
                name: "ilias".to_owned(),
                user: "ilias".to_owned(),
                pass: "the-password".to_owned(),
            },
            ilias_version: None,
            identity: Default::default(),
        }
    );
}

#[test]
fn whole_file_problems() {
    let scratch = Scratch::new();
    assert_eq!(
        error_of(load_client, &scratch, "{\"name\": \"onscreen\",}"),
        "FILE: not valid JSON: trailing comma at line 1 column 21"
    );
    assert_eq!(
        error_of(load_client, &scratch, "null"),
        "FILE: not valid JSON: the file contains null; expected a JSON object { ... }"
    );
}

/// Secrets never appear in messages, `Debug` output or summaries.
#[test]
fn secrets_are_not_shown() {
    let scratch = Scratch::new();
    let config = load_client(&scratch.write_json("client", &base())).unwrap();
    for text in [format!("{config:?}"), config.summary()] {
        assert!(!text.contains("the-secret"), "{text}");
        assert!(!text.contains("the-password"), "{text}");
    }
    let document = super::with_key(&base(), "auth.secret", Some(&json!(987654321)));
    let error = load_client(&scratch.write_json("client", &document)).unwrap_err();
    assert!(!error.to_string().contains("987654321"), "{error}");
}

/// Writes clients named `names` (in order) and loads them together.
fn load_named(
    scratch: &Scratch,
    names: &[&str],
) -> (Vec<PathBuf>, Result<Vec<ClientConfig>, ConfigError>) {
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|name| {
            let document = super::with_key(&base(), "name", Some(&json!(name)));
            scratch.write_json("client", &document)
        })
        .collect();
    let result = load_clients(&paths);
    (paths, result)
}

#[test]
fn load_clients_keeps_order() {
    let scratch = Scratch::new();
    let (paths, result) = load_named(&scratch, &["b", "a", "c"]);
    let clients = result.unwrap();
    let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["b", "a", "c"]);
    let files: Vec<PathBuf> = clients.into_iter().map(|c| c.file).collect();
    assert_eq!(files, paths);
    assert!(load_clients(&[]).unwrap().is_empty());
}

#[test]
fn duplicate_names() {
    let scratch = Scratch::new();
    let (paths, result) = load_named(&scratch, &["onscreen", "other", "onscreen"]);
    let error = result.unwrap_err();
    assert!(
        matches!(error, ConfigError::DuplicateName { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: name: \"onscreen\" is already used by {}",
            paths[2].display(),
            paths[0].display()
        )
    );
}

/// Client `x-im`'s room namespace would be client `x`'s on-screen chat namespace.
#[test]
fn namespace_clash() {
    let scratch = Scratch::new();
    let (paths, result) = load_named(&scratch, &["x", "x-im"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "{}: name: \"x-im\": its namespace /x-im is already the on-screen chat namespace of \"x\" in {}",
            paths[1].display(),
            paths[0].display()
        )
    );
    let (paths, result) = load_named(&scratch, &["x-im", "x"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "{}: name: \"x\": its on-screen chat namespace /x-im is already the room namespace of \"x-im\" in {}",
            paths[1].display(),
            paths[0].display()
        )
    );
}

#[test]
fn load_clients_reports_the_broken_file() {
    let scratch = Scratch::new();
    let good = scratch.write_json("client", &base());
    let broken = scratch.write("client", "{");
    let error = load_clients(&[good, broken.clone()]).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not valid JSON: EOF while parsing an object at line 1 column 1",
            broken.display()
        )
    );
}
