//! The batched, durable write queue against a real MariaDB: many writes in one
//! transaction with each row's INSERT before its UPDATE, sequence ids that stay unique
//! while a "PHP" client draws from the same `*_seq` table, a batch whose COMMIT answer
//! is lost (written once, not twice), a row the database refuses for good (dead-letter
//! file, the rest written), and writes kept in the journal until a later queue writes
//! them.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::{Schema, TempDir, TestDb};
use ilias_chat::config::DatabaseConfig;
use ilias_chat::store::{DEAD_LETTER_FILE, Store, Write, WriteQueue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn history(room_id: i64, n: usize) -> Write {
    Write::History {
        room_id,
        sub_room: None,
        message: format!("{{\"n\":{n}}}"),
        timestamp_s: 1_700_000_000 + n as i64,
    }
}

fn message(n: usize) -> Write {
    Write::ConversationMessage {
        id: format!("m-{n:05}"),
        conversation_id: "c1".into(),
        user_id: 6,
        message: format!("hello {n}"),
        timestamp_ms: 1_700_000_000_000 + n as i64,
    }
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(db.pool())
        .await
        .expect("count")
}

/// A queue on the test database with its worker running.
async fn running_queue(config: &DatabaseConfig, journal: Option<&Path>) -> WriteQueue {
    let store = Store::connect(config).await.expect("connects");
    let (queue, worker) = WriteQueue::new("t", journal.map(Path::to_path_buf));
    tokio::spawn(worker.run(store));
    queue
}

#[tokio::test]
async fn many_writes_go_in_one_transaction_and_each_row_keeps_its_order() {
    let db = TestDb::create(Schema::Ilias9).await;
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    let (queue, worker) = WriteQueue::new("t", None);
    // Queued before the worker runs: one batch must take them all.
    queue.push(Write::ConversationInsert {
        id: "c1".into(),
        is_group: false,
        participants: r#"[{"id":6,"name":"ann"}]"#.into(),
    });
    for n in 0..300 {
        queue.push(history(1, n));
    }
    queue.push(Write::ConversationUpdate {
        id: "c1".into(),
        is_group: true,
        participants: r#"[{"id":6,"name":"ann"},{"id":7,"name":"bob"}]"#.into(),
    });
    for n in 0..50 {
        queue.push(message(n));
    }
    queue.push(Write::Activity {
        conversation_id: "c1".into(),
        user_id: 6,
        timestamp_ms: 5,
    });
    queue.push(Write::CloseConversation {
        conversation_id: "c1".into(),
        user_id: 6,
        now_ms: 9,
    });
    assert_eq!(queue.status().pending, 354);
    tokio::spawn(worker.run(store));
    assert!(queue.flush(Duration::from_secs(30)).await, "written");

    assert_eq!(
        queue.status().transactions,
        1,
        "354 writes in one transaction"
    );
    assert_eq!(queue.status().pending, 0);
    // History ids were drawn in queue order, one block for the batch.
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT hist_id, message FROM chatroom_history ORDER BY hist_id")
            .fetch_all(db.pool())
            .await
            .expect("history");
    assert_eq!(rows.len(), 300);
    for (n, (_, message)) in rows.iter().enumerate() {
        assert_eq!(message, &format!("{{\"n\":{n}}}"), "row {n} in order");
    }
    let highest: i64 = count(&db, "SELECT MAX(sequence) FROM chatroom_history_seq").await;
    assert_eq!(
        highest,
        rows.last().expect("rows").0,
        "the sequence moved past every id"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM chatroom_history_seq").await,
        1,
        "lower sequence rows are deleted, as PHP does"
    );
    // The INSERT then the UPDATE of the same conversation; activity inserted then closed.
    let (is_group, participants): (i64, String) =
        sqlx::query_as("SELECT is_group + 0, participants FROM osc_conversation WHERE id = 'c1'")
            .fetch_one(db.pool())
            .await
            .expect("conversation");
    assert_eq!(is_group, 1);
    assert!(participants.contains("bob"), "{participants}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM osc_messages").await, 50);
    let (timestamp, closed): (i64, i64) = sqlx::query_as(
        "SELECT timestamp, is_closed + 0 FROM osc_activity WHERE conversation_id = 'c1' AND user_id = 6",
    )
    .fetch_one(db.pool())
    .await
    .expect("activity");
    assert_eq!((timestamp, closed), (9, 1));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_ids_stay_unique_while_php_draws_from_the_same_sequence() {
    let db = TestDb::create(Schema::Ilias10).await;
    let queue = running_queue(&db.database_config(), None).await;
    // ILIAS PHP's nextId on its own connection, in a loop, writing a row with each id.
    let stop = Arc::new(AtomicBool::new(false));
    let php_rows = Arc::new(AtomicI64::new(0));
    let php = {
        let pool = db.pool().clone();
        let stop = stop.clone();
        let php_rows = php_rows.clone();
        tokio::spawn(async move {
            let mut conn = pool.acquire().await.expect("php connection");
            while !stop.load(Ordering::Relaxed) {
                let id = sqlx::query("INSERT INTO chatroom_history_seq (sequence) VALUES (NULL)")
                    .execute(&mut *conn)
                    .await
                    .expect("php nextId")
                    .last_insert_id() as i64;
                sqlx::query("DELETE FROM chatroom_history_seq WHERE sequence < ?")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .expect("php nextId cleanup");
                sqlx::query(
                    "INSERT INTO chatroom_history (hist_id, room_id, message, timestamp) VALUES (?, 99, 'php', 0)",
                )
                .bind(id)
                .execute(&mut *conn)
                .await
                .expect("php's id was never handed to the chat server too");
                php_rows.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut n = 0;
    for _wave in 0..20 {
        for _ in 0..100 {
            queue.push(history(1, n));
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(queue.flush(Duration::from_secs(60)).await, "written");
    stop.store(true, Ordering::Relaxed);
    php.await.expect("php loop");
    let ours = count(
        &db,
        "SELECT COUNT(*) FROM chatroom_history WHERE room_id = 1",
    )
    .await;
    let theirs = count(
        &db,
        "SELECT COUNT(*) FROM chatroom_history WHERE room_id = 99",
    )
    .await;
    assert_eq!(
        ours, 2000,
        "every chat row written, none lost to an id PHP had"
    );
    assert_eq!(theirs, php_rows.load(Ordering::Relaxed));
    assert!(theirs > 0, "PHP drew ids meanwhile");
    assert!(
        queue.status().transactions < 2000,
        "batched: {} transactions",
        queue.status().transactions
    );
    let distinct = count(
        &db,
        "SELECT COUNT(DISTINCT message) FROM chatroom_history WHERE room_id = 1",
    )
    .await;
    assert_eq!(distinct, 2000);
    db.drop_db().await;
}

/// A TCP proxy in front of the database that, once armed, passes the next `COMMIT` on
/// to the server but never lets its answer back: the client sees a broken connection
/// and cannot know whether the COMMIT happened (it did).
struct LostCommitProxy {
    port: u16,
    armed: Arc<AtomicBool>,
    /// History rows the server had once the swallowed COMMIT was through.
    rows_at_lost_commit: Arc<AtomicI64>,
}

impl LostCommitProxy {
    async fn start(db: &TestDb) -> LostCommitProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("address").port();
        let armed = Arc::new(AtomicBool::new(false));
        let rows = Arc::new(AtomicI64::new(-1));
        let target = (db.host.clone(), db.port);
        let pool = db.pool().clone();
        let (armed2, rows2) = (armed.clone(), rows.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(target.clone())
                    .await
                    .expect("to database");
                tokio::spawn(relay(
                    client,
                    server,
                    armed2.clone(),
                    rows2.clone(),
                    pool.clone(),
                ));
            }
        });
        LostCommitProxy {
            port,
            armed,
            rows_at_lost_commit: rows,
        }
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    armed: Arc<AtomicBool>,
    rows: Arc<AtomicI64>,
    pool: sqlx::MySqlPool,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let muted = Arc::new(AtomicBool::new(false));
    let answers = {
        let muted = muted.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if muted.load(Ordering::SeqCst) {
                    // Swallow the answer and keep the connection open until the relay
                    // has looked at the database: the client just waits.
                    std::future::pending::<()>().await;
                }
                if client_write.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        })
    };
    // Client to server, packet by packet (3-byte length, sequence id, payload).
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while pending.len() >= 4 {
            let len = usize::from(pending[0])
                | usize::from(pending[1]) << 8
                | usize::from(pending[2]) << 16;
            if pending.len() < 4 + len {
                break;
            }
            let packet: Vec<u8> = pending.drain(..4 + len).collect();
            let commit = &packet[4..] == b"\x03COMMIT";
            if commit && armed.swap(false, Ordering::SeqCst) {
                muted.store(true, Ordering::SeqCst);
                let _ = server_write.write_all(&packet).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let committed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chatroom_history")
                    .fetch_one(&pool)
                    .await
                    .expect("count behind the proxy");
                rows.store(committed, Ordering::SeqCst);
                answers.abort();
                return;
            }
            if server_write.write_all(&packet).await.is_err() {
                return;
            }
        }
    }
    answers.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_commit_answer_is_lost_is_not_written_twice() {
    let db = TestDb::create(Schema::Ilias9).await;
    let proxy = LostCommitProxy::start(&db).await;
    let mut config = db.database_config();
    if let DatabaseConfig::Mysql { port, .. } = &mut config {
        *port = proxy.port;
    }
    let store = Store::connect(&config)
        .await
        .expect("connects through the proxy");
    let (queue, worker) = WriteQueue::new("t", None);
    for n in 0..100 {
        queue.push(history(1, n));
    }
    for n in 0..20 {
        queue.push(message(n));
    }
    proxy.armed.store(true, Ordering::SeqCst);
    tokio::spawn(worker.run(store));
    assert!(
        queue.flush(Duration::from_secs(60)).await,
        "written after the retry"
    );
    assert!(
        !proxy.armed.load(Ordering::SeqCst),
        "a COMMIT answer was swallowed"
    );
    assert_eq!(
        proxy.rows_at_lost_commit.load(Ordering::SeqCst),
        100,
        "the COMMIT whose answer was lost did commit"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM chatroom_history").await,
        100,
        "the retry wrote no row twice"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM osc_messages").await, 20);
    db.drop_db().await;
}

#[tokio::test]
async fn a_row_refused_for_good_goes_to_the_dead_letter_file_and_the_rest_is_written() {
    let db = TestDb::create(Schema::Ilias9).await;
    let dir = TempDir::new("deadletter");
    let store = Store::connect(&db.database_config())
        .await
        .expect("connects");
    let (queue, worker) = WriteQueue::new("t", Some(dir.path().to_path_buf()));
    for n in 0..10 {
        queue.push(history(1, n));
    }
    // `osc_conversation.participants` is varchar(4000): this can never fit.
    queue.push(Write::ConversationInsert {
        id: "too-big".into(),
        is_group: true,
        participants: "x".repeat(5000),
    });
    for n in 10..20 {
        queue.push(history(1, n));
    }
    tokio::spawn(worker.run(store));
    assert!(
        queue.flush(Duration::from_secs(30)).await,
        "the queue goes on"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM chatroom_history").await,
        20
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM osc_conversation").await, 0);
    let dead = std::fs::read_to_string(dir.join(DEAD_LETTER_FILE)).expect("dead letters");
    let lines: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{dead}");
    assert_eq!(lines[0]["write"]["kind"], "conversation_insert");
    assert_eq!(lines[0]["write"]["id"], "too-big");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("participants"),
        "{}",
        lines[0]
    );
    // Later writes still work.
    queue.push(history(1, 20));
    assert!(queue.flush(Duration::from_secs(30)).await);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM chatroom_history").await,
        21
    );
    db.drop_db().await;
}

#[tokio::test]
async fn writes_left_in_the_journal_are_written_by_the_next_queue_first() {
    let db = TestDb::create(Schema::Ilias9).await;
    let dir = TempDir::new("journal");
    {
        // No database for this one: the writes are journaled when it closes.
        let (queue, _worker) = WriteQueue::new("t", Some(dir.path().to_path_buf()));
        for n in 0..50 {
            queue.push(history(1, n));
        }
        assert_eq!(queue.close(Duration::from_millis(100)).await, 50);
    }
    assert!(dir.join("writes.journal").exists());
    let queue = running_queue(&db.database_config(), Some(dir.path())).await;
    queue.push(history(1, 50));
    assert!(queue.flush(Duration::from_secs(30)).await);
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT message FROM chatroom_history ORDER BY hist_id")
            .fetch_all(db.pool())
            .await
            .expect("history");
    let expected: Vec<String> = (0..=50).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(
        rows, expected,
        "journal first, in order, then the new write"
    );
    assert!(
        !dir.join("writes.journal").exists(),
        "a drained journal is removed"
    );
    db.drop_db().await;
}
