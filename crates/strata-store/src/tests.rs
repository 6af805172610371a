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
