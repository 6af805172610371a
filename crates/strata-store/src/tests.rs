//! Store tests on a real RocksDB in a temporary folder.

use super::*;
use crate::versions::INITIAL_MODEL_VERSION;

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
fn a_new_store_takes_its_version_name_from_the_first_batch_that_carries_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(store.current_model_version(), INITIAL_MODEL_VERSION);
    // Deletes only: the store still holds nothing, and no name came.
    store.apply(batch("p", 1, &[], &["x"])).unwrap();
    store
        .apply_named(None, Some("retail-1"), batch("p", 2, &[("a", "A")], &[]))
        .unwrap();
    assert_eq!(store.current_model_version(), "retail-1");
    let state = store.ingest_state("p").unwrap();
    assert_eq!(
        (state.model_version.as_str(), state.generation),
        ("retail-1", 0)
    );
    // Named once: later records of another version do not rename it, and
    // batches addressed to the old name are refused like any other.
    store
        .apply_named(None, Some("retail-2"), batch("p", 3, &[("b", "B")], &[]))
        .unwrap();
    let refused = store
        .apply_to(
            Some(INITIAL_MODEL_VERSION),
            batch("p", 4, &[("c", "C")], &[]),
        )
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::WrongVersion { .. }),
        "{refused}"
    );
    drop(store);
    let store = open(&dir);
    assert_eq!(store.current_model_version(), "retail-1");
    assert_eq!(
        read_all(&store, &["a", "b"]),
        vec![Some("A".into()), Some("B".into())]
    );
}

#[test]
fn a_store_with_data_under_initial_keeps_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.apply(batch("p", 1, &[("a", "A")], &[])).unwrap();
    let named = batch("p", 2, &[("b", "B")], &[]);
    store.apply_named(None, Some("retail-1"), named).unwrap();
    assert_eq!(store.current_model_version(), INITIAL_MODEL_VERSION);
    drop(store);
    // Reopened (as a store from before this naming would be), it still
    // serves its data under "initial".
    let store = open(&dir);
    let named = batch("p", 3, &[("c", "C")], &[]);
    store
        .apply_named(Some("retail-1"), None, named)
        .unwrap_err();
    assert_eq!(store.current_model_version(), INITIAL_MODEL_VERSION);
    assert_eq!(
        read_all(&store, &["a", "b"]),
        vec![Some("A".into()), Some("B".into())]
    );
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

/// The identity a producer checks: kept across reopen, new for a new or
/// restored store; the generation moves with every switch and rollback.
#[test]
fn ingest_state_names_the_store_and_the_serving_version() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backup = dir.path().join("backup");
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    store.apply(batch("p", 1, &[("a", "A1")], &[])).unwrap();
    let first = store.ingest_state("p").unwrap();
    assert_eq!(
        (
            first.model_version.as_str(),
            first.generation,
            first.last_sequence
        ),
        ("initial", 0, 1)
    );
    assert_eq!(store.ingest_state("other").unwrap().last_sequence, 0);
    store.checkpoint(&backup).unwrap();

    build(&store, "m1", &[("a", "A2")]).publish().unwrap();
    let loaded = store.ingest_state("p").unwrap();
    assert_eq!(
        (loaded.model_version.as_str(), loaded.generation),
        ("m1", 1)
    );
    store.rollback().unwrap();
    let rolled_back = store.ingest_state("p").unwrap();
    assert_eq!(rolled_back.generation, 0);
    drop(store);

    let reopened = Store::open(&data, &StoreOptions::default()).unwrap();
    assert_eq!(reopened.ingest_state("p").unwrap().store_id, first.store_id);
    drop(reopened);

    let elsewhere = Store::open(&dir.path().join("fresh"), &StoreOptions::default()).unwrap();
    assert_ne!(elsewhere.store_id(), first.store_id);

    restore_backup(&backup, &data, true).unwrap();
    let restored = Store::open(&data, &StoreOptions::default()).unwrap();
    let state = restored.ingest_state("p").unwrap();
    assert_eq!(state.last_sequence, 1);
    assert_ne!(
        state.store_id, first.store_id,
        "a restored store is another store"
    );
}

/// Test records are `layer/tier`; the classifier splits them.
#[derive(Debug)]
struct SlashClassifier;

impl Classifier for SlashClassifier {
    fn id(&self) -> &str {
        "slash 1"
    }

    fn facets(&self, record: &[u8]) -> Facets {
        let text = String::from_utf8_lossy(record);
        let (layer, tier) = text.split_once('/').unwrap_or((&text, ""));
        Facets {
            layer: LayerKey {
                index: layer.len() as u32,
                churned: false,
                label: layer.to_owned(),
            },
            tier: tier.to_owned(),
            quadrant: String::new(),
            channel: String::new(),
        }
    }
}

fn open_classified(dir: &tempfile::TempDir, retained: u64) -> Store {
    let options = StoreOptions {
        classifier: Some(Arc::new(SlashClassifier)),
        transitions_retained: retained,
        ..StoreOptions::default()
    };
    Store::open(dir.path(), &options).expect("open store")
}

fn layers(store: &Store) -> Vec<(String, u64)> {
    let (_, pyramid) = store.pyramid().expect("a classifier is set");
    pyramid
        .layers
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(key, count)| (key.label.clone(), *count))
        .collect()
}

fn moves(store: &Store, after: u64) -> Vec<(u64, String, String, String)> {
    match store.read_transitions(after, 1000).unwrap() {
        TransitionRead::Page(page) => page
            .into_iter()
            .map(|t| {
                (
                    t.cursor,
                    String::from_utf8(t.user_id).unwrap(),
                    t.from_layer,
                    t.to_layer,
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn owned(rows: &[(&str, u64)]) -> Vec<(String, u64)> {
    rows.iter().map(|(l, c)| ((*l).to_owned(), *c)).collect()
}

#[test]
fn counters_and_transitions_follow_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_classified(&dir, 100);
    assert_eq!(store.pyramid().unwrap().1.users, 0);
    store
        .apply(batch("p", 1, &[("a", "new/LOW"), ("b", "new/HIGH")], &[]))
        .unwrap();
    // a moves up, b is erased, c arrives and is named twice (last wins),
    // an unknown user's delete changes nothing.
    store
        .apply(batch(
            "p",
            2,
            &[("a", "grown/LOW"), ("c", "new/LOW"), ("c", "grown/LOW")],
            &["b", "nobody"],
        ))
        .unwrap();
    assert_eq!(layers(&store), owned(&[("grown", 2)]));
    let (_, pyramid) = store.pyramid().unwrap();
    assert_eq!(pyramid.users, 2);
    assert_eq!(pyramid.tiers["LOW"], 2);
    assert_eq!(pyramid.tiers["HIGH"], 0);
    let expected = vec![
        (1, "a".into(), "".into(), "new".into()),
        (2, "b".into(), "".into(), "new".into()),
        (3, "a".into(), "new".into(), "grown".into()),
        (4, "c".into(), "".into(), "new".into()),
        (5, "c".into(), "new".into(), "grown".into()),
        (6, "b".into(), "new".into(), "".into()),
    ];
    assert_eq!(moves(&store, 0), expected);
    assert_eq!(moves(&store, 4), expected[4..].to_vec());

    // A replay changes nothing.
    store
        .apply(batch("p", 2, &[("a", "other/LOW")], &[]))
        .unwrap();
    assert_eq!(store.newest_transition(), 6);
    assert_eq!(store.pyramid().unwrap().1.users, 2);

    // Reopened: counters from the meta family, cursors continue.
    drop(store);
    let store = open_classified(&dir, 100);
    assert_eq!(layers(&store), owned(&[("grown", 2)]));
    store.apply(batch("p", 3, &[], &["a"])).unwrap();
    assert_eq!(
        moves(&store, 6),
        vec![(7, "a".into(), "grown".into(), "".into())]
    );
    assert!(matches!(
        store.read_transitions(8, 10).unwrap(),
        TransitionRead::Ahead { newest: 7 }
    ));
}

#[test]
fn counts_a_store_without_counters_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .apply(batch("p", 1, &[("a", "new/LOW"), ("b", "grown/LOW")], &[]))
        .unwrap();
    drop(store);
    let store = open_classified(&dir, 100);
    assert_eq!(layers(&store), owned(&[("new", 1), ("grown", 1)]));
    // Written without a classifier again: the stored counters are dropped
    // and recounted at the next open.
    drop(store);
    let store = open(&dir);
    assert!(store.pyramid().is_none());
    store
        .apply(batch("p", 2, &[("c", "new/LOW")], &[]))
        .unwrap();
    drop(store);
    let store = open_classified(&dir, 100);
    assert_eq!(layers(&store), owned(&[("new", 2), ("grown", 1)]));
}

#[test]
fn a_built_version_brings_its_counters_and_rollback_restores_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_classified(&dir, 100);
    store
        .apply(batch("p", 1, &[("a", "new/LOW")], &[]))
        .unwrap();
    let mut builder = store.begin_version("v2", 0).unwrap();
    for (key, value) in [("a", "grown/HIGH"), ("b", "grown/LOW"), ("c", "new/LOW")] {
        builder.put(key.as_bytes(), value.as_bytes()).unwrap();
    }
    builder.ingest().unwrap();
    builder.publish().unwrap();
    let (version, pyramid) = store.pyramid().unwrap();
    assert_eq!((version.as_str(), pyramid.users), ("v2", 3));
    assert_eq!(layers(&store), owned(&[("new", 1), ("grown", 2)]));
    // A reload is not a user moving.
    assert_eq!(store.newest_transition(), 1);
    store.apply(batch("p", 2, &[], &["c"])).unwrap();
    assert_eq!(layers(&store), owned(&[("grown", 2)]));

    store.rollback().unwrap();
    assert_eq!(layers(&store), owned(&[("new", 1)]));
    drop(store);
    let store = open_classified(&dir, 100);
    assert_eq!(layers(&store), owned(&[("new", 1)]));
    store.rollback().unwrap();
    assert_eq!(layers(&store), owned(&[("grown", 2)]));
}

#[test]
fn old_transitions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_classified(&dir, 8);
    for sequence in 1..=30u64 {
        let value = format!("l{}/LOW", sequence % 2);
        let upserts = [("a", value.as_str())];
        store.apply(batch("p", sequence, &upserts, &[])).unwrap();
    }
    assert_eq!(store.newest_transition(), 30);
    let oldest = store.oldest_transition();
    assert_eq!(oldest, 30 - 8 + 1);
    assert_eq!(
        store.read_transitions(0, 100).unwrap(),
        TransitionRead::Expired { oldest }
    );
    let rest = moves(&store, oldest - 1);
    assert_eq!(rest.first().unwrap().0, oldest);
    assert_eq!(rest.last().unwrap().0, 30);
    drop(store);
    let store = open_classified(&dir, 8);
    assert_eq!(store.oldest_transition(), oldest);
    assert_eq!(store.newest_transition(), 30);
}

fn open_with_cache(dir: &tempfile::TempDir, profile_cache_bytes: usize) -> Store {
    let options = StoreOptions {
        profile_cache_bytes,
        ..StoreOptions::default()
    };
    Store::open(dir.path(), &options).expect("open store")
}

#[test]
fn the_profile_cache_answers_what_rocksdb_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with_cache(&dir, 1 << 20);
    store
        .apply(batch("p", 1, &[("a", "A1"), ("b", "B1")], &[]))
        .unwrap();
    assert!(store.cached(&["a"]).is_none(), "writes never add entries");
    // A miss fills (the record, and the absence of zz).
    assert_eq!(
        read_all(&store, &["a", "zz"]),
        vec![Some("A1".into()), None]
    );
    let cached = store.cached(&["a", "zz"]).expect("both cached now");
    assert_eq!(cached[0].as_deref(), Some(&b"A1"[..]));
    assert_eq!(cached[1], None);
    // Writes refresh what is cached, deletes included.
    store
        .apply(batch("p", 2, &[("a", "A2"), ("zz", "Z2")], &["b"]))
        .unwrap();
    assert_eq!(
        read_all(&store, &["a", "zz", "b"]),
        vec![Some("A2".into()), Some("Z2".into()), None]
    );
    store.apply(batch("p", 3, &[], &["a"])).unwrap();
    assert_eq!(
        read_all(&store, &["a", "zz"]),
        vec![None, Some("Z2".into())]
    );
    assert!(store.stats().unwrap().profile_cache_entries >= 3);

    // After a restart the cache starts empty; warming fills it in key order.
    drop(store);
    let store = open_with_cache(&dir, 1 << 20);
    assert_eq!(store.stats().unwrap().profile_cache_entries, 0);
    assert_eq!(store.warm_profile_cache(|| false).unwrap(), 1);
    let cached = store.cached(&["zz"]).expect("warmed");
    assert_eq!(cached[0].as_deref(), Some(&b"Z2"[..]));
}

#[test]
fn readers_see_whole_batches_through_a_small_cache() {
    // Room for about a third of the users (an entry weighs about 110
    // bytes): lookups mix hits and misses and take every path (cache only,
    // cache plus RocksDB, RocksDB only).
    readers_see_whole_batches(24 * 110);
}

#[test]
fn readers_see_whole_batches_through_a_cache_that_holds_everyone() {
    // Nearly every lookup is answered from the cache alone while the
    // writer replaces entries.
    readers_see_whole_batches(1 << 20);
}

fn readers_see_whole_batches(profile_cache_bytes: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    const USERS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_with_cache(&dir, profile_cache_bytes));
    let ids: Vec<String> = (0..USERS).map(|user| format!("user-{user:03}")).collect();
    let version = |v: u64| -> Vec<(String, String)> {
        ids.iter().map(|id| (id.clone(), format!("v{v}"))).collect()
    };
    store.apply(batch_of("w", 1, &version(1))).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3u64)
        .map(|reader| {
            let (store, ids, done) = (store.clone(), ids.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut state = reader + 1;
                while !done.load(Ordering::Relaxed) || reads < 100 {
                    // A different subset each time, so which ids are cached varies.
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let start = (state >> 33) as usize % USERS;
                    let picked: Vec<&str> = ids
                        .iter()
                        .cycle()
                        .skip(start)
                        .step_by(1 + (state >> 40) as usize % 3)
                        .take(20)
                        .map(String::as_str)
                        .collect();
                    let seen: Vec<Option<String>> = read_all(&store, &picked);
                    assert!(
                        seen.iter()
                            .all(|value| value.is_some() && *value == seen[0]),
                        "a lookup mixed batches: {seen:?}"
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for sequence in 2..=200 {
        store
            .apply(batch_of("w", sequence, &version(sequence)))
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("no reader saw a torn batch") >= 100);
    }
    let last = read_all(&store, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(last.iter().all(|value| value.as_deref() == Some("v200")));
}

fn batch_of<'a>(
    producer_id: &'a str,
    sequence: u64,
    upserts: &'a [(String, String)],
) -> Batch<'a, String, String, String> {
    Batch {
        producer_id,
        sequence,
        upserts,
        deletes: &[],
    }
}

#[test]
fn counters_read_old_records_from_the_cache_as_from_rocksdb() {
    let batches: [&[(&str, &str)]; 3] = [
        &[("a", "new/LOW"), ("b", "new/HIGH"), ("c", "new/LOW")],
        &[("a", "grown/LOW"), ("b", "new/LOW"), ("d", "new/HIGH")],
        &[("a", "grown/HIGH"), ("c", "gone/LOW"), ("c", "grown/LOW")],
    ];
    let run = |profile_cache_bytes: usize| {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            classifier: Some(Arc::new(SlashClassifier)),
            profile_cache_bytes,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), &options).unwrap();
        for (sequence, upserts) in batches.iter().enumerate() {
            // Read everyone first: with a cache, old records come from it.
            read_all(&store, &["a", "b", "c", "d", "e"]);
            let deletes: &[&str] = if sequence == 2 { &["b", "e"] } else { &[] };
            store
                .apply(batch("p", sequence as u64 + 1, upserts, deletes))
                .unwrap();
        }
        let (_, pyramid) = store.pyramid().unwrap();
        (
            layers(&store),
            pyramid.tiers.clone(),
            moves(&store, 0),
            read_all(&store, &["a", "b", "c", "d"]),
        )
    };
    let cached = run(1 << 20);
    assert_eq!(cached, run(0));
    assert_eq!(cached.0, owned(&[("new", 1), ("grown", 2)]));
    assert_eq!(cached.3[2].as_deref(), Some("grown/LOW"), "last of c wins");
}
