//! Verified identity against a real MariaDB with ILIAS' `usr_session` table: which
//! rows count as a live session of a real user, and that many concurrent lookups are
//! answered by a few batched statements (then by the cache, without any).

mod common;

use common::{Schema, TestDb};
use ilias_chat::identity::{Lookup, Verifier, unix_now};
use ilias_chat::store::Store;
use ilias_chat::store::session::{LiveSession, live_sessions};

/// One `usr_session` row as ILIAS writes it (PHP-serialised session data).
async fn insert_session(db: &TestDb, id: &str, user: i64, expires: i64, data: &str) {
    let now = unix_now();
    sqlx::query(
        "INSERT INTO usr_session (session_id, expires, data, ctime, user_id, type, createtime, context) \
         VALUES (?, ?, ?, ?, ?, 1, ?, 'ilContextWeb')",
    )
    .bind(id)
    .bind(expires)
    .bind(data)
    .bind(now)
    .bind(user)
    .bind(now - 60)
    .execute(db.pool())
    .await
    .expect("insert usr_session");
}

const LOGGED_IN: &str =
    "_authsession_authenticated|b:1;_authsession_user_id|i:101;_authsession_expired|i:0;";

#[tokio::test]
async fn only_live_sessions_of_real_users_count() {
    for schema in [Schema::Ilias8, Schema::Ilias9, Schema::Ilias10] {
        let db = TestDb::create(schema).await;
        let now = unix_now();
        insert_session(&db, "live101", 101, now + 1800, LOGGED_IN).await;
        insert_session(&db, "expired101", 101, now - 1, LOGGED_IN).await;
        // Expired by ILIAS' own flag, though `expires` was refreshed by the last request.
        let flagged =
            "_authsession_authenticated|b:1;_authsession_user_id|i:101;_authsession_expired|i:1;";
        insert_session(&db, "flagged101", 101, now + 1800, flagged).await;
        insert_session(&db, "nobody", 0, now + 1800, "").await;
        insert_session(
            &db,
            "anonymous",
            13,
            now + 1800,
            "_authsession_user_id|i:13;",
        )
        .await;
        insert_session(&db, "live102", 102, now + 1800, "").await;

        let store = Store::connect(&db.database_config())
            .await
            .expect("connects");
        let ids: Vec<String> = [
            "live101",
            "expired101",
            "flagged101",
            "nobody",
            "anonymous",
            "live102",
            "unknown",
        ]
        .map(String::from)
        .into();
        let mut found = live_sessions(&store, &ids, now).await.expect("query");
        found.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        assert_eq!(
            found,
            [
                LiveSession {
                    session_id: "live101".into(),
                    user_id: 101,
                    expires: now + 1800
                },
                LiveSession {
                    session_id: "live102".into(),
                    user_id: 102,
                    expires: now + 1800
                },
            ],
            "{schema:?}"
        );
        store.close().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn a_thousand_lookups_cost_a_few_statements_then_none() {
    let db = TestDb::create(Schema::Ilias9).await;
    let now = unix_now();
    for user in 0..200 {
        insert_session(&db, &format!("sess{user}"), 1000 + user, now + 1800, "").await;
    }
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    let verifier = Verifier::new("batch");

    let lookups = |verifier: Verifier, store: Store| async move {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let verifier = verifier.clone();
                let store = store.clone();
                // 250 distinct ids: 200 live, 50 unknown.
                tokio::spawn(async move {
                    let id = format!("sess{}", i % 250);
                    (i % 250, verifier.lookup(Some(&store), &id).await)
                })
            })
            .collect();
        for task in tasks {
            let (n, lookup) = task.await.expect("lookup task");
            let expected = if n < 200 {
                Lookup::Live(1000 + n)
            } else {
                Lookup::Dead
            };
            assert_eq!(lookup, expected, "sess{n}");
        }
    };

    lookups(verifier.clone(), store.clone()).await;
    let first = verifier.queries();
    // All 1000 arrive within a few batching ticks; each tick is one statement.
    assert!(
        (1..=10).contains(&first),
        "1000 concurrent lookups took {first} statements"
    );
    // Reconnecting again at once: every answer (live and dead) comes from the cache.
    lookups(verifier.clone(), store.clone()).await;
    assert_eq!(
        verifier.queries(),
        first,
        "the second wave queried the database"
    );

    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_database_outage_keeps_recently_verified_users_in() {
    let db = TestDb::create(Schema::Ilias9).await;
    insert_session(&db, "live101", 101, unix_now() + 1800, LOGGED_IN).await;
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    let verifier = Verifier::new("outage");
    assert_eq!(
        verifier.lookup(Some(&store), "live101").await,
        Lookup::Live(101)
    );

    // The database goes away (pool closed: every statement fails at once).
    store.close().await;
    assert_eq!(
        verifier.lookup(Some(&store), "live101").await,
        Lookup::Live(101)
    );
    assert_eq!(
        verifier.lookup(Some(&store), "never-seen").await,
        Lookup::Unavailable
    );
    db.drop_db().await;
}
