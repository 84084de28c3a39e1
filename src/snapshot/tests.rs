use std::path::PathBuf;

use super::*;
use crate::config::{Auth, DatabaseConfig, Generation};
use crate::room::model::{SavedRoom, SavedSubscriber};

fn config(name: &str, database: &str) -> ClientConfig {
    ClientConfig {
        file: PathBuf::from("/etc/ilias-chat/clients/x.cfg"),
        name: name.to_string(),
        auth: Auth {
            key: "k".into(),
            secret: "s".into(),
        },
        database: DatabaseConfig::Mysql {
            host: Some("db".into()),
            port: 3306,
            socket: None,
            name: database.to_string(),
            user: "ilias".into(),
            pass: "secret".into(),
        },
        ilias_version: Some(Generation::Ilias9),
        identity: Default::default(),
    }
}

fn rooms() -> SavedRooms {
    SavedRooms {
        subscribers: vec![SavedSubscriber {
            id: 5,
            name: Some("alice".into()),
            profile_picture_visible: Some(false),
            tabs: 2,
        }],
        rooms: vec![SavedRoom {
            room_id: 7,
            sub_room: 0,
            title: "Main".into(),
            owner: None,
            registered: vec![5],
            joined: vec![5],
        }],
        ..SavedRooms::default()
    }
}

fn state_dir(test: &str) -> StateDir {
    let root =
        std::env::temp_dir().join(format!("ilias-chat-snapshot-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    StateDir::new(root)
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_written_snapshot_is_read_back_once() {
    let state = state_dir("roundtrip");
    let mut snapshot = Snapshot::new(1_000_000);
    snapshot.add(&config("one", "ilias"), rooms(), SavedIm::default());
    let path = snapshot.write(&state).expect("written");
    assert!(path.ends_with("snapshot/snapshot.json"));
    let mut read = Snapshot::take_file(&state, 1_030_000, MINUTE)
        .expect("valid")
        .expect("present");
    assert_eq!(read, snapshot);
    let client = read.take_client(&config("one", "ilias")).expect("saved");
    assert_eq!(client.expect("same fingerprint").rooms, rooms());
    // Used once: the next start finds nothing.
    assert!(
        Snapshot::take_file(&state, 1_030_000, MINUTE)
            .expect("no error")
            .is_none()
    );
    std::fs::remove_dir_all(state.root()).expect("cleaned up");
}

#[test]
fn a_changed_client_is_not_restored() {
    let mut snapshot = Snapshot::new(0);
    snapshot.add(&config("one", "ilias"), rooms(), SavedIm::default());
    let changed = snapshot.take_client(&config("one", "other_db"));
    assert!(matches!(changed, Some(Err(_))));
    // A secret or password change is no reason to start clean.
    let mut snapshot = Snapshot::new(0);
    snapshot.add(&config("one", "ilias"), rooms(), SavedIm::default());
    let mut same = config("one", "ilias");
    same.auth.secret = "new".into();
    assert!(matches!(snapshot.take_client(&same), Some(Ok(_))));
    assert!(snapshot.take_client(&config("two", "ilias")).is_none());
}

#[test]
fn old_corrupt_and_foreign_files_are_refused_and_moved_aside() {
    let state = state_dir("refused");
    let dir = state.kind(SNAPSHOT).expect("dir");
    let file = dir.join(FILE);
    let rejected = dir.join("snapshot.json.rejected");

    Snapshot::new(0).write(&state).expect("written");
    let old = Snapshot::take_file(&state, 61_000, MINUTE);
    assert!(
        matches!(old, Err(SnapshotError::TooOld { age_s: 61, .. })),
        "{old:?}"
    );
    assert!(!file.exists() && rejected.exists());

    std::fs::write(
        &file,
        b"{\"format\": \"ilias-chat restart snapshot\", \"vers",
    )
    .expect("w");
    let corrupt = Snapshot::take_file(&state, 0, MINUTE);
    assert!(
        matches!(corrupt, Err(SnapshotError::Corrupt { .. })),
        "{corrupt:?}"
    );
    assert!(!file.exists());

    std::fs::write(&file, br#"{"format": "something else", "version": 1}"#).expect("w");
    let foreign = Snapshot::take_file(&state, 0, MINUTE);
    assert!(
        matches!(foreign, Err(SnapshotError::Foreign { .. })),
        "{foreign:?}"
    );

    std::fs::write(
        &file,
        br#"{"format": "ilias-chat restart snapshot", "version": 99}"#,
    )
    .expect("w");
    let newer = Snapshot::take_file(&state, 0, MINUTE);
    assert!(
        matches!(newer, Err(SnapshotError::Foreign { version: 99, .. })),
        "{newer:?}"
    );

    Snapshot::new(100_000).write(&state).expect("written");
    let future = Snapshot::take_file(&state, 0, MINUTE);
    assert!(
        matches!(future, Err(SnapshotError::FromTheFuture { .. })),
        "{future:?}"
    );
    std::fs::remove_dir_all(state.root()).expect("cleaned up");
}
