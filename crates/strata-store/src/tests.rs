//! Store tests on a real RocksDB in a temporary folder.

use super::*;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), &StoreOptions::default()).expect("open store")
}

fn batch<'a>(
    producer_id: &'a str,
    sequence: u64,
    upserts: &'a [(&'a str, &'a str)],
    deletes: &'a [&'a str],
) -> Batch<'a, &'a str, &'a str, &'a str> {
    Batch {
        producer_id,
        sequence,
        upserts,
        deletes,
    }
}

fn read_all(store: &Store, ids: &[&str]) -> Vec<Option<String>> {
    let mut out = vec![None; ids.len()];
    store
        .multi_get(ids, |index, value| {
            out[index] = value.map(|bytes| String::from_utf8(bytes.to_vec()).unwrap());
        })
        .unwrap();
    out
}

#[test]
fn multi_get_answers_in_key_order_with_duplicates_and_misses() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let upserts = [("a", "A1"), ("b", "B1")];
    store.apply(batch("p", 1, &upserts, &[])).unwrap();
    assert_eq!(
        read_all(&store, &["b", "zz", "a", "b"]),
        vec![
            Some("B1".to_owned()),
            None,
            Some("A1".to_owned()),
            Some("B1".to_owned())
        ]
    );
}

#[test]
fn sequences_replay_and_gap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.last_sequence("p").unwrap(), 0);
    let first = [("a", "A1")];
    assert_eq!(
        store.apply(batch("p", 1, &first, &[])).unwrap(),
        ApplyOutcome::Applied
    );

    // A replay of sequence 1 with other content must not change anything.
    let replay = [("a", "CHANGED")];
    assert_eq!(
        store.apply(batch("p", 1, &replay, &[])).unwrap(),
        ApplyOutcome::Replayed { last_applied: 1 }
    );
    assert_eq!(read_all(&store, &["a"]), vec![Some("A1".to_owned())]);

    let gap = store.apply(batch("p", 3, &first, &[])).unwrap_err();
    assert!(
        matches!(
            gap,
            StoreError::SequenceGap {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{gap}"
    );
    assert!(matches!(
        store.apply(batch("p", 0, &first, &[])).unwrap_err(),
        StoreError::ZeroSequence { .. }
    ));
    // Producers are independent.
    assert_eq!(
        store.apply(batch("q", 1, &[], &[])).unwrap(),
        ApplyOutcome::Applied
    );
    assert_eq!(
        store.producers().unwrap(),
        vec![("p".to_owned(), 1), ("q".to_owned(), 1)]
    );
}

#[test]
fn deletes_erase_and_everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        let upserts = [("a", "A1"), ("b", "B1")];
        store.apply(batch("p", 1, &upserts, &[])).unwrap();
        store.apply(batch("p", 2, &[], &["a"])).unwrap();
        assert_eq!(
            read_all(&store, &["a", "b"]),
            vec![None, Some("B1".to_owned())]
        );
    }
    let store = open(&dir);
    assert_eq!(
        read_all(&store, &["a", "b"]),
        vec![None, Some("B1".to_owned())]
    );
    assert_eq!(store.last_sequence("p").unwrap(), 2);
    let mut seen = None;
    store
        .get(b"b", |value| seen = value.map(<[u8]>::to_vec))
        .unwrap();
    assert_eq!(seen.as_deref(), Some(&b"B1"[..]));
}

#[test]
fn stats_count_profiles_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let upserts: Vec<(String, String)> = (0..100)
        .map(|i| (format!("user-{i}"), format!("record-{i}")))
        .collect();
    store
        .apply(Batch {
            producer_id: "p",
            sequence: 1,
            upserts: &upserts,
            deletes: &[] as &[&str],
        })
        .unwrap();
    store.flush().unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(stats.estimated_profiles, 100);
    assert!(stats.live_sst_bytes > 0);
}

fn build<'s>(
    store: &'s Store,
    model_version: &str,
    records: &[(&str, &str)],
) -> VersionBuilder<'s> {
    let mut builder = store.begin_version(model_version, 0).unwrap();
    for (key, value) in records {
        builder.put(key.as_bytes(), value.as_bytes()).unwrap();
    }
    builder.ingest().unwrap();
    builder
}

#[test]
fn versions_build_beside_switch_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.apply(batch("p", 1, &[("a", "A0")], &[])).unwrap();
    assert_eq!(store.current_model_version(), "initial");

    let builder = build(&store, "m1", &[("a", "A1"), ("b", "B1")]);
    // Not serving until published.
    assert_eq!(read_all(&store, &["a", "b"]), vec![Some("A0".into()), None]);
    let info = builder.publish().unwrap();
    assert!(info.current && info.records == 2);
    assert_eq!(
        read_all(&store, &["a", "b"]),
        vec![Some("A1".into()), Some("B1".into())]
    );

    // Writes address the serving version; a batch for another is refused.
    let refused = store
        .apply_to(Some("initial"), batch("p", 2, &[("a", "X")], &[]))
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::WrongVersion { .. }),
        "{refused}"
    );
    store
        .apply_to(Some("m1"), batch("p", 2, &[("c", "C1")], &[]))
        .unwrap();
    // Sequences carry across versions.
    assert_eq!(store.last_sequence("p").unwrap(), 2);

    build(&store, "m2", &[("a", "A2")]).publish().unwrap();
    let versions = store.versions().unwrap();
    let names: Vec<&str> = versions.iter().map(|v| v.model_version.as_str()).collect();
    assert_eq!(names, ["m2", "m1"], "initial is dropped");

    assert_eq!(store.rollback().unwrap(), ("m2".into(), "m1".into()));
    assert_eq!(read_all(&store, &["c"]), vec![Some("C1".into())]);
    drop(store);
    let store = open(&dir);
    assert_eq!(store.current_model_version(), "m1", "the switch is durable");
    assert_eq!(store.rollback().unwrap(), ("m1".into(), "m2".into()));
    assert_eq!(read_all(&store, &["a", "c"]), vec![Some("A2".into()), None]);
}

#[test]
fn a_failed_or_interrupted_build_leaves_the_serving_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    build(&store, "m1", &[("a", "A1")]).publish().unwrap();

    let mut builder = store.begin_version("m2", 0).unwrap();
    builder.put(b"b", b"B2").unwrap();
    let out_of_order = builder.put(b"a", b"A2").unwrap_err();
    assert!(
        out_of_order.to_string().contains("ascending"),
        "{out_of_order}"
    );
    drop(builder);
    let failed = &store.versions().unwrap()[0];
    assert_eq!(failed.state, VersionState::Failed);
    assert!(failed.note.contains("ascending"), "{}", failed.note);
    assert_eq!(store.current_model_version(), "m1");

    // A crash mid-build: the builder never finishes or cleans up.
    let builder = build(&store, "m3", &[("a", "A3")]);
    assert!(matches!(
        store.begin_version("m4", 0).unwrap_err(),
        StoreError::ReloadInProgress { .. }
    ));
    std::mem::forget(builder);
    drop(store);
    let store = open(&dir);
    assert_eq!(store.current_model_version(), "m1");
    assert_eq!(read_all(&store, &["a"]), vec![Some("A1".into())]);
    let interrupted = &store.versions().unwrap()[0];
    assert_eq!(interrupted.model_version, "m3");
    assert_eq!(interrupted.state, VersionState::Failed);
    assert!(!store.path().join("reload-staging").exists());
    build(&store, "m3", &[("a", "A3")]).publish().unwrap();
    assert_eq!(read_all(&store, &["a"]), vec![Some("A3".into())]);
}

#[test]
fn a_checkpoint_restores_data_and_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    let data = dir.path().join("data");
    let restored = dir.path().join("restored");
    {
        let store = Store::open(&data, &StoreOptions::default()).unwrap();
        store.apply(batch("p", 1, &[("a", "A1")], &[])).unwrap();
        let info = store.checkpoint(&backup).unwrap();
        assert_eq!(info.producers, vec![("p".to_owned(), 1)]);
        store.apply(batch("p", 2, &[("a", "A2")], &[])).unwrap();
        // A running store is never replaced, even with force.
        assert!(restore_backup(&backup, &data, true).is_err());
    }
    restore_backup(&backup, &restored, false).unwrap();
    assert!(matches!(
        restore_backup(&backup, &restored, false).unwrap_err(),
        StoreError::NotEmpty { .. }
    ));
    restore_backup(&backup, &restored, true).unwrap();
    let store = Store::open(&restored, &StoreOptions::default()).unwrap();
    assert_eq!(store.last_sequence("p").unwrap(), 1);
    assert_eq!(read_all(&store, &["a"]), vec![Some("A1".into())]);
}
