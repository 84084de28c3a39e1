//! Backend HTTP API (`/backend/...`) against the real binary and MariaDB: heartbeat,
//! Basic authentication, routing rules (404, case, trailing slash, HEAD), several
//! clients on one server.
//!
//! Contract (the original server's, kept): Heartbeat answers `{"status":200}`
//! for any name, with or without credentials; every other route needs Basic
//! `key:secret` of the client named in the URL, and a failure is HTTP 200 with exactly
//! `{"status":403,"message":"Access denied"}` (PHP treats non-2xx as a transport error).

mod common;

use common::{
    HttpResponse, Schema, TestDb, TestServer, basic_auth, client_cfg, free_port, http_get,
    http_request, ilias_request, server_cfg,
};
use serde_json::{Value, json};

const NAME: &str = "onscreen";
const KEY: &str = "0cdc8989-d5f0-1111-4444-244320d9dabc";
const SECRET: &str = "f7471a0e-c454-2222-3333-bb0f1b5d4123";

/// Server first: it is stopped before its database is dropped.
struct Running {
    server: TestServer,
    _db: TestDb,
}

async fn start(schema: Schema) -> Running {
    start_with(schema, NAME, KEY, SECRET).await
}

async fn start_with(schema: Schema, name: &str, key: &str, secret: &str) -> Running {
    let db = TestDb::create(schema).await;
    let server = TestServer::start(
        server_cfg(free_port()),
        &[client_cfg(name, key, secret, &db)],
    )
    .await;
    Running { server, _db: db }
}

fn access_denied() -> Value {
    json!({"status": 403, "message": "Access denied"})
}

fn ok_status() -> Value {
    json!({"status": 200})
}

/// Asserts HTTP 200, a JSON content type and exactly `expected` as body.
#[track_caller]
fn assert_json(what: &str, r: &HttpResponse, expected: &Value) {
    assert_eq!(r.status, 200, "{what}: HTTP status (body {:?})", r.body);
    assert_eq!(&r.json(), expected, "{what}: body");
    let ct = r.headers.get("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content-type {ct:?}"
    );
}

async fn get(port: u16, path: &str, auth: Option<(&str, &str)>) -> HttpResponse {
    ilias_request(port, "GET", path, auth).await
}

/// GET with a literal `Authorization` header value (or none).
async fn get_with_authorization(port: u16, path: &str, value: Option<&str>) -> HttpResponse {
    let headers: Vec<(&str, &str)> = value.map(|v| ("Authorization", v)).into_iter().collect();
    http_request(port, "GET", path, &headers)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test]
async fn heartbeat_answers_with_and_without_auth_and_for_unknown_names() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    let hb = format!("/backend/Heartbeat/{NAME}");

    // The tuple helper as ILIAS PHP uses it.
    let (status, headers, body) = http_get(port, &hb, None).await;
    assert_eq!(status, 200, "heartbeat without auth: {body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("heartbeat body is JSON"),
        ok_status()
    );
    assert!(
        headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "heartbeat content-type: {headers:?}"
    );

    assert_json(
        "heartbeat with auth",
        &get(port, &hb, Some((KEY, SECRET))).await,
        &ok_status(),
    );
    assert_json(
        "heartbeat with wrong auth",
        &get(port, &hb, Some((KEY, "wrong"))).await,
        &ok_status(),
    );
    assert_json(
        "heartbeat for an unknown client name",
        &get(port, "/backend/Heartbeat/no-such-client", None).await,
        &ok_status(),
    );
}

#[tokio::test]
async fn connect_with_valid_auth_succeeds() {
    let rt = start(Schema::Ilias9).await;
    let r = get(
        rt.server.port,
        &format!("/backend/Connect/{NAME}/1/6"),
        Some((KEY, SECRET)),
    )
    .await;
    assert_json("Connect with valid auth", &r, &ok_status());
}

#[tokio::test]
async fn heartbeat_and_connect_work_on_every_schema_generation() {
    for schema in Schema::ALL {
        let rt = start(schema).await;
        let port = rt.server.port;
        assert_json(
            &format!("{schema:?}: heartbeat"),
            &get(port, &format!("/backend/Heartbeat/{NAME}"), None).await,
            &ok_status(),
        );
        assert_json(
            &format!("{schema:?}: Connect"),
            &get(
                port,
                &format!("/backend/Connect/{NAME}/7/13"),
                Some((KEY, SECRET)),
            )
            .await,
            &ok_status(),
        );
        assert_json(
            &format!("{schema:?}: Connect with wrong secret"),
            &get(
                port,
                &format!("/backend/Connect/{NAME}/7/13"),
                Some((KEY, "nope")),
            )
            .await,
            &access_denied(),
        );
    }
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_403_in_a_200() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    let path = format!("/backend/Connect/{NAME}/1/6");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("wrong secret", Some(basic_auth(KEY, "not-the-secret"))),
        ("wrong key", Some(basic_auth("not-the-key", SECRET))),
        ("key and secret swapped", Some(basic_auth(SECRET, KEY))),
        ("empty credentials", Some(basic_auth("", ""))),
        (
            "secret with extra suffix",
            Some(basic_auth(KEY, &format!("{SECRET}x"))),
        ),
        ("missing header", None),
        ("empty header", Some(String::new())),
        ("scheme only", Some("Basic".into())),
        ("scheme and space only", Some("Basic ".into())),
        ("no space in header", Some("garbage-without-space".into())),
        ("not base64", Some("Basic !!!not*base64!!!".into())),
        (
            "base64 without colon",
            Some(format!(
                "Basic {}",
                base64_encode(&format!("{KEY}{SECRET}"))
            )),
        ),
        (
            "base64 of invalid UTF-8",
            Some(format!(
                "Basic {}",
                base64_encode_bytes(&[0xff, 0xfe, b':', 0xff])
            )),
        ),
    ];
    for (what, header) in cases {
        let r = get_with_authorization(port, &path, header.as_deref()).await;
        assert_json(what, &r, &access_denied());
    }
    // The server must still be alive and serve the right credentials afterwards.
    assert_json(
        "valid auth after failures",
        &get(port, &path, Some((KEY, SECRET))).await,
        &ok_status(),
    );
}

#[tokio::test]
async fn unknown_client_name_gets_403_even_with_valid_credentials_of_another_client() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    for path in [
        "/backend/Connect/no-such-client/1/6",
        // Client names are compared exactly.
        &format!("/backend/Connect/{}/1/6", NAME.to_uppercase()),
    ] {
        assert_json(
            &format!("{path} with another client's credentials"),
            &get(port, path, Some((KEY, SECRET))).await,
            &access_denied(),
        );
        assert_json(
            &format!("{path} without credentials"),
            &get(port, path, None).await,
            &access_denied(),
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_404_with_a_json_body() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    let cases: Vec<(String, Option<(&str, &str)>)> = vec![
        (format!("/backend/Nope/{NAME}"), Some((KEY, SECRET))),
        (format!("/backend/Nope/{NAME}/1/2"), Some((KEY, SECRET))),
        ("/backend".into(), None),
        ("/backend/".into(), None),
        ("/backend".into(), Some((KEY, SECRET))),
    ];
    for (path, auth) in cases {
        let r = get(port, &path, auth).await;
        assert_eq!(
            r.status,
            404,
            "GET {path} (auth: {}): body {:?}",
            auth.is_some(),
            r.body
        );
        let body = r.json();
        assert_eq!(body["status"], json!(404), "GET {path}: body {body}");
    }
}

#[tokio::test]
async fn action_names_are_case_insensitive_and_one_trailing_slash_is_accepted() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    for path in [
        format!("/backend/heartbeat/{NAME}"),
        format!("/backend/HEARTBEAT/{NAME}"),
        format!("/backend/heartbeat/{NAME}/"),
        format!("/backend/Heartbeat/{NAME}/"),
    ] {
        assert_json(&path, &get(port, &path, None).await, &ok_status());
    }
    for path in [
        format!("/backend/connect/{NAME}/1/6"),
        format!("/backend/CONNECT/{NAME}/1/6"),
        format!("/backend/cOnNeCt/{NAME}/1/6/"),
        format!("/backend/Connect/{NAME}/1/6/"),
    ] {
        assert_json(
            &format!("{path} with auth"),
            &get(port, &path, Some((KEY, SECRET))).await,
            &ok_status(),
        );
        assert_json(
            &format!("{path} without auth"),
            &get(port, &path, None).await,
            &access_denied(),
        );
    }
}

#[tokio::test]
async fn head_is_answered_like_get() {
    let rt = start(Schema::Ilias9).await;
    let port = rt.server.port;
    let hb = ilias_request(port, "HEAD", &format!("/backend/Heartbeat/{NAME}"), None).await;
    assert_eq!(hb.status, 200, "HEAD heartbeat");
    assert_eq!(hb.body, "", "HEAD must not carry a body");
    assert!(
        hb.headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "HEAD heartbeat content-type: {:?}",
        hb.headers
    );
    let c = ilias_request(
        port,
        "HEAD",
        &format!("/backend/Connect/{NAME}/1/6"),
        Some((KEY, SECRET)),
    )
    .await;
    assert_eq!(c.status, 200, "HEAD Connect");
    assert_eq!(c.body, "");
    let nf = ilias_request(
        port,
        "HEAD",
        &format!("/backend/Nope/{NAME}"),
        Some((KEY, SECRET)),
    )
    .await;
    assert_eq!(nf.status, 404, "HEAD unknown route");
}

#[tokio::test]
async fn two_clients_each_accept_only_their_own_secret() {
    let db_a = TestDb::create(Schema::Ilias9).await;
    let db_b = TestDb::create(Schema::Ilias10).await;
    let (ka, sa) = ("key-a", "secret-a");
    let (kb, sb) = ("key-b", "secret-b");
    let server = TestServer::start(
        server_cfg(free_port()),
        &[
            client_cfg("alpha", ka, sa, &db_a),
            client_cfg("beta", kb, sb, &db_b),
        ],
    )
    .await;
    let port = server.port;
    for name in ["alpha", "beta"] {
        assert_json(
            &format!("heartbeat {name}"),
            &get(port, &format!("/backend/Heartbeat/{name}"), None).await,
            &ok_status(),
        );
    }
    let a = "/backend/Connect/alpha/1/6";
    let b = "/backend/Connect/beta/1/6";
    assert_json(
        "alpha with alpha's secret",
        &get(port, a, Some((ka, sa))).await,
        &ok_status(),
    );
    assert_json(
        "beta with beta's secret",
        &get(port, b, Some((kb, sb))).await,
        &ok_status(),
    );
    assert_json(
        "alpha with beta's secret",
        &get(port, a, Some((kb, sb))).await,
        &access_denied(),
    );
    assert_json(
        "beta with alpha's secret",
        &get(port, b, Some((ka, sa))).await,
        &access_denied(),
    );
    assert_json(
        "alpha with alpha's key, beta's secret",
        &get(port, a, Some((ka, sb))).await,
        &access_denied(),
    );
    assert_json(
        "beta with beta's key, alpha's secret",
        &get(port, b, Some((kb, sa))).await,
        &access_denied(),
    );
    drop(server);
    db_a.drop_db().await;
    db_b.drop_db().await;
}

#[tokio::test]
async fn a_secret_containing_colons_works() {
    let secret = "se:cr:et:";
    let rt = start_with(Schema::Ilias9, NAME, KEY, secret).await;
    let port = rt.server.port;
    let path = format!("/backend/Connect/{NAME}/1/6");
    assert_json(
        "secret with colons",
        &get(port, &path, Some((KEY, secret))).await,
        &ok_status(),
    );
    // Splitting at the first colon only: any prefix of the secret must fail.
    for wrong in ["se", "se:cr", "se:cr:et"] {
        assert_json(
            &format!("secret prefix {wrong:?}"),
            &get(port, &path, Some((KEY, wrong))).await,
            &access_denied(),
        );
    }
}

#[tokio::test]
async fn test_databases_get_the_schema_of_their_generation() {
    // Guards the fixtures the whole suite relies on.
    let expect_absent: [(Schema, &[&str]); 3] = [
        (Schema::Ilias8, &[]),
        (
            Schema::Ilias9,
            &[
                "chatroom_prooms",
                "chatroom_proomaccess",
                "chatroom_psessions",
            ],
        ),
        (
            Schema::Ilias10,
            &["chatroom_prooms", "chatroom_smilies", "chatroom_uploads"],
        ),
    ];
    for (schema, absent) in expect_absent {
        let db = TestDb::create(schema).await;
        let tables = db.tables().await;
        for t in [
            "chatroom_history",
            "chatroom_history_seq",
            "chatroom_sessions",
            "chatroom_users",
            "chatroom_settings",
            "chatroom_bans",
            "osc_conversation",
            "osc_messages",
            "osc_activity",
            "usr_pref",
            "usr_data",
        ] {
            assert!(tables.iter().any(|x| x == t), "{schema:?}: {t} missing");
        }
        for t in absent {
            assert!(!tables.iter().any(|x| x == t), "{schema:?}: {t} present");
        }
        let sub_room: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = 'chatroom_history' AND column_name = 'sub_room'",
        )
        .bind(&db.name)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(
            sub_room.0,
            i64::from(schema == Schema::Ilias8),
            "{schema:?}: sub_room"
        );
        let name = db.name.clone();
        db.drop_db().await;
        // Really gone.
        let check = TestDb::create(Schema::Ilias10).await;
        let left: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(&name)
        .fetch_one(check.pool())
        .await
        .unwrap();
        assert_eq!(left.0, 0, "{name} was not dropped");
        check.drop_db().await;
    }
}

fn base64_encode(s: &str) -> String {
    base64_encode_bytes(s.as_bytes())
}

fn base64_encode_bytes(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
