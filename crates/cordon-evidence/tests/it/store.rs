//! The local directory store: streaming ingest with three digests, write-once objects, the size
//! limit, interrupted ingests, and detection of changed content on every read and audit.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use cordon_evidence::{
    CHUNK_BYTES, Digests, EvidenceError, EvidenceStore, LocalDirStore, StoreConfig, Verdict, VerificationOutcome,
};
use proptest::prelude::*;

use crate::support::{FailingReader, PatternReader, corrupt_object, new_store, new_store_with};

#[test]
fn stored_content_reads_back_verified_with_all_three_digests() {
    let (_dir, store) = new_store();
    let ingested = store.put(&b"abc"[..]).unwrap();
    assert!(ingested.newly_stored);
    let digests = ingested.digests;
    assert_eq!(
        digests.sha256.to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(digests.sha1.to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(digests.md5.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(digests.size, 3);

    let path = store.object_path(&digests.sha256);
    assert!(path.ends_with("objects/ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);

    let mut reader = store.open_verified(&digests.sha256).unwrap();
    assert_eq!(reader.len(), 3);
    let mut content = Vec::new();
    reader.read_to_end(&mut content).unwrap();
    assert_eq!(content, b"abc");
    assert_eq!(reader.verdict(), &Verdict::Intact(digests));
    assert_eq!(reader.verdict().outcome(), VerificationOutcome::Intact);
    assert_eq!(store.verify(&digests.sha256).unwrap(), digests);
}

#[test]
fn the_same_content_twice_is_one_object_that_is_not_rewritten() {
    let (_dir, store) = new_store();
    let first = store.put(&b"memory image"[..]).unwrap();
    let path = store.object_path(&first.digests.sha256);
    let inode = fs::metadata(&path).unwrap().ino();

    let second = store.put(&b"memory image"[..]).unwrap();
    assert!(!second.newly_stored);
    assert_eq!(second.digests, first.digests);
    assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(fs::read_dir(store.root().join("incoming")).unwrap().count(), 0);
}

#[test]
fn evidence_over_the_size_limit_is_refused_naming_the_limit_and_nothing_is_stored() {
    let (_dir, store) = new_store_with(StoreConfig {
        max_object_bytes: 2 * 1024 * 1024,
    });
    let err = store.put(PatternReader::new(2 * 1024 * 1024 + 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "evidence is larger than the size limit of 2 MiB (2097152 bytes), nothing was stored; raise the store's max_object_bytes to accept it"
    );
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(store.root().join("incoming")).unwrap().count(), 0);

    let exactly_at_the_limit = store.put(PatternReader::new(2 * 1024 * 1024)).unwrap();
    assert_eq!(exactly_at_the_limit.digests.size, 2 * 1024 * 1024);
}

#[test]
fn an_interrupted_ingest_leaves_no_object_and_no_partial_file() {
    let (_dir, store) = new_store();
    let three_mib = vec![0x5a; 3 * 1024 * 1024];
    let err = store
        .put(FailingReader {
            content: io::Cursor::new(three_mib.clone()),
        })
        .unwrap_err();
    match &err {
        EvidenceError::SourceRead { bytes_read, .. } => assert_eq!(*bytes_read, 3 * 1024 * 1024),
        other => panic!("expected a source read error, got {other:?}"),
    }
    assert!(err.to_string().contains("nothing was stored"));
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(store.root().join("incoming")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.root().join("objects")).unwrap().count(), 0);
    let would_be = Digests::of(&three_mib).sha256;
    assert!(matches!(
        store.open_verified(&would_be),
        Err(EvidenceError::NotFound { .. })
    ));
}

#[test]
fn partial_files_left_by_a_crash_are_removed_when_the_store_opens_again() {
    let (dir, store) = new_store();
    let root = store.root().to_path_buf();
    fs::write(root.join("incoming/ingest-4242-0.partial"), b"half a disk").unwrap();
    fs::write(root.join("incoming/ingest-4242-1.partial"), b"").unwrap();
    drop(store);

    let reopened = LocalDirStore::open(&root, StoreConfig::default()).unwrap();
    assert_eq!(reopened.abandoned_partials_removed(), 2);
    assert_eq!(fs::read_dir(root.join("incoming")).unwrap().count(), 0);
    assert!(reopened.list().unwrap().is_empty());
    drop(dir);
}

#[test]
fn a_flipped_byte_fails_the_download_and_the_audit() {
    let (_dir, store) = new_store();
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
    let sha256 = store.put(content.as_slice()).unwrap().digests.sha256;
    corrupt_object(&store, &sha256, 4_321);

    let mut reader = store.open_verified(&sha256).unwrap();
    let mut downloaded = Vec::new();
    let err = reader.read_to_end(&mut downloaded).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let inner = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<EvidenceError>())
        .unwrap();
    assert!(matches!(inner, EvidenceError::HashMismatch { expected, .. } if *expected == sha256));
    assert!(matches!(
        reader.verdict().outcome(),
        VerificationOutcome::Mismatch { .. }
    ));
    // It keeps failing: a retry loop cannot turn it into a success.
    assert!(reader.read(&mut [0; 16]).is_err());

    let audit = store.verify(&sha256).unwrap_err();
    assert!(
        audit.to_string().starts_with(&format!(
            "evidence object {sha256} is corrupt: its content now hashes to "
        )),
        "{audit}"
    );
}

#[test]
fn a_download_that_stops_early_has_no_verdict() {
    let (_dir, store) = new_store();
    let sha256 = store.put(&[1u8; 100][..]).unwrap().digests.sha256;
    let mut reader = store.open_verified(&sha256).unwrap();
    let mut first = [0; 10];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(reader.verdict(), &Verdict::Pending);
    assert_eq!(reader.verdict().outcome(), VerificationOutcome::Incomplete);
}

#[test]
fn auditing_an_object_that_is_not_there_says_so() {
    let (_dir, store) = new_store();
    let missing = Digests::of(b"never stored").sha256;
    let err = store.verify(&missing).unwrap_err();
    assert_eq!(err.to_string(), format!("no evidence object {missing} in the store"));
}

#[test]
fn listing_shows_only_objects_in_address_order() {
    let (_dir, store) = new_store();
    let mut expected: Vec<_> = [&b"one"[..], b"two", b"three"]
        .into_iter()
        .map(|content| {
            let digests = store.put(content).unwrap().digests;
            (digests.sha256, digests.size)
        })
        .collect();
    expected.sort();
    fs::write(store.root().join("objects/README"), b"not evidence").unwrap();
    fs::create_dir_all(store.root().join("objects/zz")).unwrap();
    fs::write(store.root().join("objects/zz/junk"), b"not evidence").unwrap();

    let listed: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|object| (object.sha256, object.size))
        .collect();
    assert_eq!(listed, expected);
}

/// 64 MiB streams through in 1 MiB chunks; the digests match values computed independently of
/// this crate (Python's hashlib over the same generated bytes).
#[test]
fn a_large_image_streams_through_in_bounded_chunks_with_correct_digests() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let (_dir, store) = new_store_with(StoreConfig { max_object_bytes: SIZE });
    let mut source = PatternReader::new(SIZE);
    let ingested = store.put(&mut source).unwrap();
    assert!(source.largest_read <= CHUNK_BYTES);
    let digests = ingested.digests;
    assert_eq!(digests.size, SIZE);
    assert_eq!(
        digests.sha256.to_hex(),
        "98dc891b284e4d84ac25b0c0a24fdbe39a7f0dbd643ad5e8aa06e02fc6258254"
    );
    assert_eq!(digests.sha1.to_hex(), "7c2445cbfd18c1e89accc5c6ad81c40624afec3f");
    assert_eq!(digests.md5.to_hex(), "8dbd2e5cbc41169e65ca6dd06d2f44a1");
    assert_eq!(store.verify(&digests.sha256).unwrap(), digests);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_content_round_trips_with_its_digests(content in proptest::collection::vec(any::<u8>(), 0..70_000)) {
        let (_dir, store) = new_store();
        let ingested = store.put(content.as_slice()).unwrap();
        prop_assert_eq!(ingested.digests, Digests::of(&content));
        let mut reader = store.open_verified(&ingested.digests.sha256).unwrap();
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        prop_assert_eq!(back, content);
    }

    #[test]
    fn any_single_byte_corruption_is_detected(
        content in proptest::collection::vec(any::<u8>(), 1..5_000),
        position in any::<prop::sample::Index>(),
    ) {
        let (_dir, store) = new_store();
        let sha256 = store.put(content.as_slice()).unwrap().digests.sha256;
        corrupt_object(&store, &sha256, position.index(content.len()));
        let audit_failed = matches!(
            store.verify(&sha256),
            Err(EvidenceError::HashMismatch { .. })
        );
        prop_assert!(audit_failed);
        let mut reader = store.open_verified(&sha256).unwrap();
        prop_assert!(reader.read_to_end(&mut Vec::new()).is_err());
    }
}
