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
    for (schema, expected, how) in [
        (
            Schema::Ilias8,
            Generation::Ilias8,
            "chat tables (chatroom_prooms present",
        ),
        (
            Schema::Ilias9,
            Generation::Ilias9,
            "chat tables (chatroom_smilies present",
        ),
        (
            Schema::Ilias10,
            Generation::Ilias10,
            "settings ilias_version = 10.13",
        ),
        (
            Schema::Ilias11,
            Generation::Ilias11,
            "settings ilias_version = 11.6",
        ),
    ] {
        let db = TestDb::create(schema).await;
        let store = Store::connect(&db.database_config())
            .await
            .expect("connects");
        let detected = store.detect_generation().await.expect("detects");
        assert_eq!(detected.generation, expected, "{schema:?}");
        assert!(
            detected.how.starts_with(how),
            "{schema:?}: {}",
            detected.how
        );
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn without_the_settings_row_10_11_and_12_look_like_10() {
    for (version, expected) in [
        (Some("12.0"), Generation::Ilias12),
        (Some("trunk"), Generation::Ilias10),
        (None, Generation::Ilias10),
    ] {
        let db = TestDb::create(Schema::Ilias11).await;
        let store = Store::connect(&db.database_config())
            .await
            .expect("connects");
        match version {
            Some(version) => {
                sqlx::query("UPDATE settings SET value = ? WHERE keyword = 'ilias_version'")
                    .bind(version)
                    .execute(store.pool())
                    .await
                    .expect("updates");
            }
            None => {
                sqlx::query("DROP TABLE settings")
                    .execute(store.pool())
                    .await
                    .expect("drops");
            }
        }
        let detected = store.detect_generation().await.expect("detects");
        assert_eq!(
            detected.generation, expected,
            "{version:?}: {}",
            detected.how
        );
        if expected == Generation::Ilias10 {
            assert!(detected.how.contains("assuming 10"), "{}", detected.how);
        }
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
