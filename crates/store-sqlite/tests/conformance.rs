//! The storage conformance suite on SQLite, plus what only a file-backed store can show.

use std::sync::Mutex;
use tidings_store::{AppendBatch, Store};
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

/// Temporary folders live as long as the test binary.
static DIRS: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());

fn fresh() -> Box<dyn Store> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process).unwrap();
    DIRS.lock().unwrap().push(dir);
    Box::new(store)
}

tidings_store::conformance_tests!(fresh());

#[test]
fn data_survives_reopen_and_the_folder_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let msg = tidings_store::conformance::msg(r#"{"type":"track","userId":"u","event":"E","messageId":"keep"}"#);
    {
        let s = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap();
        let w = s.create_workspace("shop", 0).unwrap().id;
        s.append(&[AppendBatch { workspace: w, messages: vec![msg.clone()] }]).unwrap();
        let err =
            SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).err().expect("second writer refused");
        assert!(err.to_string().contains("in use by another tidings process"), "{err}");
        // A reader may look while the writer holds the folder.
        let r = SqliteStore::open(dir.path(), Mode::ReadOnly, Durability::Full).unwrap();
        assert_eq!(r.stats(w).unwrap().events, 1);
        assert!(r.append(&[]).is_err(), "a read-only store refuses writes");
    }
    let s = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap();
    let w = s.workspace_by_name("shop").unwrap().unwrap().id;
    let out = s.append(&[AppendBatch { workspace: w, messages: vec![msg] }]).unwrap();
    assert_eq!(out.outcomes[0][0], tidings_store::Outcome::Duplicate, "dedupe survives a restart");
}

#[test]
fn read_only_open_of_a_missing_folder_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("nope"), Mode::ReadOnly, Durability::Full).err().unwrap();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn a_derived_append_leaves_full_durability_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Full).unwrap();
    let w = s.create_workspace("shop", 0).unwrap().id;
    let msg = |id: &str| {
        tidings_store::conformance::msg(&format!(r#"{{"type":"track","userId":"u","event":"E","messageId":"{id}"}}"#))
    };
    s.append_derived(&[AppendBatch { workspace: w, messages: vec![msg("d")] }]).unwrap();
    s.append(&[AppendBatch { workspace: w, messages: vec![msg("e")] }]).unwrap();
    // 2 is FULL: the ingest path still waits for the disk.
    assert_eq!(s.pragma_synchronous().unwrap(), 2);
}
