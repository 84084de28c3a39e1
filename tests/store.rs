//! The database layer against a real MariaDB: ILIAS sequence emulation and detection
//! of the ILIAS generation from the schema.

mod common;

use std::collections::HashSet;

use common::{Schema, TestDb};
use ilias_chat::config::{DatabaseConfig, Generation};
use ilias_chat::store::{Sequence, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_never_share_a_sequence_id() {
    let db = TestDb::create(Schema::Ilias9).await;
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    // ILIAS PHP may already have drawn ids: the server must continue after them.
    db.exec("INSERT INTO chatroom_history_seq (sequence) VALUES (41);")
        .await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..25 {
                ids.push(
                    store
                        .next_id(Sequence::ChatroomHistory)
                        .await
                        .expect("next id"),
                );
            }
            ids
        });
    }
    let mut all = Vec::new();
    while let Some(ids) = tasks.join_next().await {
        all.extend(ids.expect("task finished"));
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 200, "duplicate ids handed out: {all:?}");
    assert!(
        all.iter().all(|id| *id > 41),
        "ids must follow the ones PHP drew"
    );

    // Like ilDB::nextId, only the newest row stays in the sequence table.
    let left: Vec<i64> = sqlx::query_scalar("SELECT sequence FROM chatroom_history_seq")
        .fetch_all(db.pool())
        .await
        .expect("select");
    assert_eq!(left.len(), 1, "sequence rows left: {left:?}");
    assert_eq!(Some(left[0]), all.iter().copied().max());

    // The sessions sequence is separate.
    let session = store
        .next_id(Sequence::ChatroomSessions)
        .await
        .expect("session id");
    assert_eq!(session, 1);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn generation_is_detected_from_the_schema() {
    for (schema, expected) in [
        (Schema::Ilias8, Generation::Ilias8),
        (Schema::Ilias9, Generation::Ilias9),
        (Schema::Ilias10, Generation::Ilias10),
    ] {
        let db = TestDb::create(schema).await;
        let store = Store::connect(&db.database_config())
            .await
            .expect("connects");
        assert_eq!(
            store.detect_generation().await.expect("detects"),
            expected,
            "{schema:?}"
        );
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn unreachable_database_is_an_error_not_a_panic() {
    let config = DatabaseConfig::Mysql {
        host: Some("127.0.0.1".into()),
        port: common::free_port(),
        socket: None,
        name: "nothing".into(),
        user: "nobody".into(),
        pass: "x".into(),
    };
    let error = Store::connect(&config)
        .await
        .expect_err("nothing listens there");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot connect to mysql://nobody@127.0.0.1:"),
        "{message}"
    );
}
