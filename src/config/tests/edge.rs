//! server.cfg's connection limits: `header_timeout`, `login_timeout`,
//! `max_connections_per_address`.

use std::time::Duration;

use serde_json::{Value, json};

use super::check_key;
use crate::config::{EdgeLimits, ServerConfig, load_server};

fn base() -> Value {
    json!({ "address": "127.0.0.1", "port": 8585 })
}

#[test]
fn header_timeout() {
    let expected = "expected seconds, 1 to 3600";
    check_key(
        load_server,
        &base(),
        "header_timeout",
        |c: &ServerConfig| c.edge.header_timeout,
        vec![
            (None, EdgeLimits::DEFAULT_HEADER_TIMEOUT),
            (Some(json!(null)), EdgeLimits::DEFAULT_HEADER_TIMEOUT),
            (Some(json!("")), EdgeLimits::DEFAULT_HEADER_TIMEOUT),
            (Some(json!(5)), Duration::from_secs(5)),
            (Some(json!("7")), Duration::from_secs(7)),
            (Some(json!(3600)), Duration::from_secs(3600)),
        ],
        vec![
            (
                Some(json!(0)),
                &format!("header_timeout: 0 is not valid; {expected}"),
            ),
            (
                Some(json!(3601)),
                &format!("header_timeout: 3601 is not valid; {expected}"),
            ),
            (
                Some(json!(1.5)),
                &format!("header_timeout: 1.5 is not valid; {expected}"),
            ),
            (
                Some(json!("soon")),
                &format!("header_timeout: \"soon\" is not valid; {expected}"),
            ),
            (
                Some(json!(true)),
                &format!("header_timeout: true is not valid; {expected}"),
            ),
        ],
    );
}

#[test]
fn login_timeout() {
    let expected = "expected seconds, 0 to 86400 (0 turns the deadline off)";
    check_key(
        load_server,
        &base(),
        "login_timeout",
        |c: &ServerConfig| c.edge.login_timeout,
        vec![
            (None, Some(EdgeLimits::DEFAULT_LOGIN_TIMEOUT)),
            (Some(json!(0)), None),
            (Some(json!("0")), None),
            (Some(json!(10)), Some(Duration::from_secs(10))),
            (Some(json!(86400)), Some(Duration::from_secs(86400))),
        ],
        vec![
            (
                Some(json!(-1)),
                &format!("login_timeout: -1 is not valid; {expected}"),
            ),
            (
                Some(json!(86401)),
                &format!("login_timeout: 86401 is not valid; {expected}"),
            ),
            (
                Some(json!([60])),
                &format!("login_timeout: [60] is not valid; {expected}"),
            ),
        ],
    );
}

#[test]
fn max_connections_per_address() {
    let expected = "expected a number of connections, 0 to 1000000 (0 turns the limit off)";
    check_key(
        load_server,
        &base(),
        "max_connections_per_address",
        |c: &ServerConfig| c.edge.max_connections_per_address,
        vec![
            (None, None),
            (Some(json!(0)), None),
            (Some(json!(1)), Some(1)),
            (Some(json!("200")), Some(200)),
            (Some(json!(1_000_000)), Some(1_000_000)),
        ],
        vec![
            (
                Some(json!(-5)),
                &format!("max_connections_per_address: -5 is not valid; {expected}"),
            ),
            (
                Some(json!(1_000_001)),
                &format!("max_connections_per_address: 1000001 is not valid; {expected}"),
            ),
            (
                Some(json!("many")),
                &format!("max_connections_per_address: \"many\" is not valid; {expected}"),
            ),
        ],
    );
}
