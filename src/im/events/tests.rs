//! The argument rules of each on-screen chat event.

use super::*;
use serde_json::json;

fn args(values: Value) -> EventArgs {
    EventArgs::from(values)
}

#[test]
fn login_takes_id_and_optional_name() {
    assert_eq!(
        parse_login(&args(json!([6, "ann"]))),
        Ok((6, Some("ann".into())))
    );
    assert_eq!(parse_login(&args(json!(["6"]))), Ok((6, None)));
    assert!(parse_login(&args(json!([]))).is_err());
    assert!(parse_login(&args(json!([6, 7]))).is_err());
    assert!(parse_login(&args(json!([0, "x"]))).is_err());
}

#[test]
fn participants_must_be_objects_with_ids() {
    assert_eq!(
        parse_participants_arg(&args(
            json!([[{"id": 6, "name": "ann"}, {"id": "7", "name": "bob"}, {"id": 8}]])
        )),
        Ok(vec![
            (6, Some("ann".into())),
            (7, Some("bob".into())),
            (8, None)
        ])
    );
    assert!(parse_participants_arg(&args(json!([[6, 7]]))).is_err());
    assert!(parse_participants_arg(&args(json!([[{"name": "x"}]]))).is_err());
    assert!(parse_participants_arg(&args(json!([{"id": 6}]))).is_err());
    assert!(parse_participants_arg(&args(json!([]))).is_err());
}

#[test]
fn conversation_ids_are_bounded_strings() {
    assert_eq!(conversation_id(&args(json!(["abc"])), 0), Ok("abc".into()));
    assert!(conversation_id(&args(json!([5])), 0).is_err());
    assert!(conversation_id(&args(json!([""])), 0).is_err());
    assert!(conversation_id(&args(json!(["x".repeat(256)])), 0).is_err());
    assert!(conversation_id(&args(json!([null])), 0).is_err());
}

#[test]
fn messages_need_a_string_text() {
    assert_eq!(
        parse_message(&args(json!(["c", 6, "hi"]))),
        Ok(("c".into(), 6, "hi".into()))
    );
    // Longer than a chat-room message: the column is a longtext.
    let long = "x".repeat(10_000);
    assert!(parse_message(&args(json!(["c", 6, long]))).is_ok());
    assert!(parse_message(&args(json!(["c", 6, {"content": "hi"}]))).is_err());
    assert!(parse_message(&args(json!(["c", 6]))).is_err());
    assert!(parse_message(&args(json!(["c", "me", "hi"]))).is_err());
}

#[test]
fn history_takes_an_optional_timestamp_and_sorting() {
    assert_eq!(
        parse_history(&args(json!(["c", null]))),
        Ok(("c".into(), None, None))
    );
    assert_eq!(
        parse_history(&args(json!(["c", 1_700_000_000_123_i64, true]))),
        Ok(("c".into(), Some(1_700_000_000_123), Some(json!(true))))
    );
    assert_eq!(
        parse_history(&args(json!(["c", "17", false]))),
        Ok(("c".into(), Some(17), Some(json!(false))))
    );
    assert!(parse_history(&args(json!(["c", -1]))).is_err());
    assert!(parse_history(&args(json!(["c", "soon"]))).is_err());
    // Any flag is taken (the browser's value is echoed back).
    assert_eq!(
        parse_history(&args(json!(["c", 5, "yes"]))),
        Ok(("c".into(), Some(5), Some(json!("yes"))))
    );
}

#[test]
fn activity_and_close_need_user_ids() {
    assert_eq!(
        parse_activity(&args(json!(["c", 6, 1_700_000_000_000_i64]))),
        Ok(("c".into(), 6, 1_700_000_000_000))
    );
    assert_eq!(
        parse_activity(&args(json!(["c", 6, 1.7e12]))),
        Ok(("c".into(), 6, 1_700_000_000_000))
    );
    assert!(parse_activity(&args(json!(["c", 6]))).is_err());
    assert_eq!(
        parse_conversation_user(&args(json!(["c", "6"]))),
        Ok(("c".into(), 6))
    );
    assert!(parse_conversation_user(&args(json!(["c"]))).is_err());
}

#[test]
fn member_changes_take_a_user_and_a_name() {
    assert_eq!(
        parse_member_change(&args(json!(["c", 7, "bob"]))),
        Ok(MemberChange {
            conversation: "c".into(),
            user: 7,
            name: "bob".into()
        })
    );
    assert!(parse_member_change(&args(json!(["c", 7]))).is_err());
    assert!(parse_member_change(&args(json!(["c", 7, null]))).is_err());
    assert!(parse_member_change(&args(json!(["c", null, "bob"]))).is_err());
}
