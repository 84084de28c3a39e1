//! The on-screen chat's SQL against a real MariaDB: preloading conversations (a broken
//! row is skipped), the queued writes (conversations, messages, activity, closing) read
//! back through the same queries the socket handlers use, the settings refresh, and
//! the daily purge with each unit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{Schema, TestDb};
use ilias_chat::client::Client;
use ilias_chat::config::{Auth, ClientConfig, DeletionUnit, Generation};
use ilias_chat::im::{self, OnScreenChat};
use ilias_chat::jobs::{self, schedule::purge_bound};
use ilias_chat::store::osc::{self as store, StoredMessage};
use ilias_chat::store::{Store, Write};
use socketioxide::SocketIo;

/// The on-screen chat of a client connected to the test database, its write queue
/// running.
async fn client_for(db: &TestDb) -> (Arc<OnScreenChat>, Store) {
    let config = ClientConfig {
        file: "client.cfg".into(),
        name: "imtest".into(),
        auth: Auth {
            key: "k".into(),
            secret: "s".into(),
        },
        database: db.database_config(),
        ilias_version: Some(Generation::Ilias9),
        identity: Default::default(),
    };
    let (_service, io) = SocketIo::builder().build_svc();
    let client = Arc::new(Client::new(config, io, None));
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    let worker = client.take_write_worker().expect("worker");
    tokio::spawn(worker.run(store.clone()));
    client.set_store(store.clone());
    (Arc::new(OnScreenChat::new(client)), store)
}

async fn flush(chat: &OnScreenChat) {
    assert!(
        chat.client.writes().flush(Duration::from_secs(10)).await,
        "writes are applied"
    );
}

async fn ids(db: &TestDb, sql: &'static str) -> Vec<String> {
    let mut ids: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(db.pool())
        .await
        .expect("select");
    ids.sort();
    ids
}

#[tokio::test]
async fn preload_skips_broken_rows_and_reads_settings() {
    let db = TestDb::create(Schema::Ilias9).await;
    db.exec(
        r#"INSERT INTO osc_conversation (id, is_group, participants) VALUES
             ('good', 0, '[{"id":6,"name":"ann"},{"id":"7","name":"bob"}]'),
             ('group', 1, '[{"id":6,"name":"ann"},{"id":7,"name":"bob"},{"id":8,"name":"cy"}]'),
             ('broken', 0, '[{"id":6,"name":"ann"'),
             ('not-a-list', 0, '{"id":6}'),
             ('empty', 1, NULL);
           INSERT INTO usr_pref (usr_id, keyword, value) VALUES
             (6, 'chat_osc_accept_msg', 'y'), (7, 'chat_osc_accept_msg', 'n'),
             (8, 'chat_osc_browser_notifications', 'y');"#,
    )
    .await;
    let (client, store) = client_for(&db).await;
    let loaded = im::start(&client).await.expect("loads");
    assert_eq!(
        loaded, 3,
        "good, group and the empty one; broken rows are skipped"
    );
    {
        let im = client.im();
        let good = im.view("good").expect("good loaded");
        assert!(!good.is_group);
        assert_eq!(
            good.participants
                .iter()
                .map(|p| (p.id, p.name.as_str()))
                .collect::<Vec<_>>(),
            vec![(6, "ann"), (7, "bob")]
        );
        assert!(im.view("group").is_some_and(|g| g.is_group));
        assert!(im.view("broken").is_none() && im.view("not-a-list").is_none());
        // The refresh ran: only 6 accepts messages.
        assert!(im.participant(6).is_some_and(|p| p.accepts_messages));
        assert!(im.participant(7).is_some_and(|p| !p.accepts_messages));
        assert!(im.participant(8).is_some_and(|p| !p.accepts_messages));
    }
    assert_eq!(
        store::accepting_users(&store).await.expect("reads"),
        [6].into_iter().collect()
    );
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn queued_writes_read_back_consistently() {
    let db = TestDb::create(Schema::Ilias9).await;
    let (client, store) = client_for(&db).await;
    client.client.write(Write::ConversationInsert {
        id: "c".into(),
        is_group: false,
        participants: r#"[{"id":6,"name":"ann"}]"#.into(),
    });
    client.client.write(Write::ConversationUpdate {
        id: "c".into(),
        is_group: true,
        participants: r#"[{"id":6,"name":"ann"},{"id":7,"name":"bob"}]"#.into(),
    });
    for (i, user) in [6, 7, 6, 7, 6, 7, 6, 7].into_iter().enumerate() {
        client.client.write(Write::ConversationMessage {
            id: format!("m{i}"),
            conversation_id: "c".into(),
            user_id: user,
            message: format!("text {i}"),
            timestamp_ms: 1_000 + i64::try_from(i).expect("small") * 100,
        });
    }
    // trackActivity: inserted when missing (also with 0), updated only when positive.
    client.client.write(Write::Activity {
        conversation_id: "c".into(),
        user_id: 6,
        timestamp_ms: 0,
    });
    client.client.write(Write::Activity {
        conversation_id: "c".into(),
        user_id: 7,
        timestamp_ms: 1_250,
    });
    client.client.write(Write::Activity {
        conversation_id: "c".into(),
        user_id: 7,
        timestamp_ms: 0,
    });
    client.client.write(Write::CloseConversation {
        conversation_id: "c".into(),
        user_id: 7,
        now_ms: 1_450,
    });
    // Closing without an activity row changes nothing.
    client.client.write(Write::CloseConversation {
        conversation_id: "c".into(),
        user_id: 9,
        now_ms: 1_450,
    });
    flush(&client).await;

    let row: (String, i64, String) =
        sqlx::query_as("SELECT id, is_group + 0, participants FROM osc_conversation")
            .fetch_one(db.pool())
            .await
            .expect("row");
    assert_eq!(
        row,
        (
            "c".into(),
            1,
            r#"[{"id":6,"name":"ann"},{"id":7,"name":"bob"}]"#.into()
        )
    );
    let activity: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT user_id, timestamp, is_closed + 0 FROM osc_activity ORDER BY user_id",
    )
    .fetch_all(db.pool())
    .await
    .expect("activity");
    assert_eq!(activity, vec![(6, 0, 0), (7, 1_450, 1)]);

    let latest = store::latest_message(&store, "c").await.expect("reads");
    assert_eq!(
        latest,
        Some(StoredMessage {
            id: "m7".into(),
            conversation_id: "c".into(),
            user_id: 7,
            message: "text 7".into(),
            timestamp: 1_700,
        })
    );
    assert_eq!(store::unread_count(&store, "c", 6).await.expect("count"), 8);
    assert_eq!(store::unread_count(&store, "c", 7).await.expect("count"), 3);
    assert_eq!(
        store::unread_count(&store, "c", 8).await.expect("count"),
        0,
        "no activity row: 0, as in the original"
    );
    assert!(store::is_closed(&store, "c", 7).await.expect("reads"));
    assert!(!store::is_closed(&store, "c", 6).await.expect("reads"));

    let page = store::history(&store, "c", None).await.expect("history");
    assert_eq!(
        page.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec!["m7", "m6", "m5", "m4", "m3", "m2"]
    );
    let older = store::history(&store, "c", Some(1_200))
        .await
        .expect("history");
    assert_eq!(
        older.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec!["m1", "m0"]
    );
    store.close().await;
    db.drop_db().await;
}

fn at(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Berlin
        .with_ymd_and_hms(y, mo, d, 3, 0, 0)
        .single()
        .expect("valid")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn purge_deletes_old_rows_for_each_unit() {
    let db = TestDb::create(Schema::Ilias9).await;
    let (client, store) = client_for(&db).await;
    let now = at(2025, 5, 31);
    for (unit, value, expected_bound) in [
        (DeletionUnit::Days, 10, at(2025, 5, 21)),
        (DeletionUnit::Weeks, 2, at(2025, 5, 17)),
        (DeletionUnit::Months, 3, at(2025, 2, 28)),
        (DeletionUnit::Years, 1, at(2024, 5, 31)),
    ] {
        let bound = purge_bound(now, unit, value, &chrono_tz::Europe::Berlin);
        assert_eq!(bound, expected_bound, "{unit} bound");
        let (s, ms) = (bound.timestamp(), bound.timestamp_millis());
        db.exec(
            "DELETE FROM chatroom_history; DELETE FROM osc_messages; \
             DELETE FROM osc_conversation; DELETE FROM osc_activity;",
        )
        .await;
        db.exec(&format!(
            "INSERT INTO chatroom_history (hist_id, room_id, message, timestamp) VALUES \
               (1, 1, '{{}}', {old_s}), (2, 1, '{{}}', {s}), (3, 1, '{{}}', {new_s});
             INSERT INTO osc_conversation (id, is_group, participants) VALUES \
               ('old-only', 0, '[{{\"id\":6,\"name\":\"a\"}},{{\"id\":7,\"name\":\"b\"}}]'), \
               ('mixed', 0, '[{{\"id\":6,\"name\":\"a\"}},{{\"id\":8,\"name\":\"c\"}}]'), \
               ('silent', 1, '[{{\"id\":6,\"name\":\"a\"}},{{\"id\":9,\"name\":\"d\"}}]'), \
               ('busy', 0, '[{{\"id\":6,\"name\":\"a\"}},{{\"id\":10,\"name\":\"e\"}}]');
             INSERT INTO osc_messages (id, conversation_id, user_id, message, timestamp) VALUES \
               ('a1', 'old-only', 6, 'x', {old_ms}), \
               ('b1', 'mixed', 6, 'x', {old_ms}), ('b2', 'mixed', 8, 'y', {ms});
             INSERT INTO osc_activity (conversation_id, user_id, timestamp) VALUES \
               ('old-only', 6, 1), ('mixed', 6, 1), ('silent', 6, 1), ('gone', 6, 1);",
            old_s = s - 1,
            new_s = s + 1,
            old_ms = ms - 1,
        ))
        .await;
        im::start(&client).await.expect("preload");
        // 'busy' got a message while the purge ran: its row is written again.
        client.im().set_latest_message(
            "busy",
            Some(StoredMessage {
                id: "live".into(),
                conversation_id: "busy".into(),
                user_id: 6,
                message: "x".into(),
                timestamp: ms + 5,
            }),
        );

        let report = jobs::purge(&client, bound).await.expect("purged");
        assert_eq!(
            (
                report.history,
                report.messages,
                report.conversations,
                report.activity
            ),
            (1, 2, 3, 3),
            "{unit}: history < bound, messages < bound, message-less conversations, orphaned activity"
        );
        flush(&client).await;
        assert_eq!(
            ids(&db, "SELECT id FROM osc_conversation").await,
            vec!["busy".to_string(), "mixed".to_string()],
            "{unit}"
        );
        assert_eq!(ids(&db, "SELECT id FROM osc_messages").await, vec!["b2"]);
        let history: Vec<i64> =
            sqlx::query_scalar("SELECT hist_id FROM chatroom_history ORDER BY hist_id")
                .fetch_all(db.pool())
                .await
                .expect("history");
        assert_eq!(history, vec![2, 3], "{unit}: the bound itself is kept");
        let im = client.im();
        assert!(im.view("old-only").is_none() && im.view("silent").is_none());
        assert!(im.view("mixed").is_some() && im.view("busy").is_some());
        assert!(im.conversations_of(6).iter().all(|id| id != "old-only"));
    }
    store.close().await;
    db.drop_db().await;
}
