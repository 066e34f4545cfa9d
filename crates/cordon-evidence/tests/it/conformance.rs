//! The store conformance suite: what every `EvidenceStore` backend must do, written once and
//! instantiated per backend by `conformance!`. A new backend (S3-compatible storage, later)
//! adds one line at the bottom and passes this suite before it is used.
//!
//! Each test takes the backend's constructor, `fn(max_object_bytes) -> (guard, store)`, and a
//! way to flip one bit of a stored object behind the store's back, as an intruder would.

use std::io::{self, Read};

use cordon_evidence::{
    CHUNK_BYTES, Digests, EvidenceError, EvidenceStore, Sha256Digest, Tlp, Verdict, VerificationOutcome, verify_item,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{FailingReader, PatternReader, item_for};

/// Instantiates every conformance test for one backend.
macro_rules! conformance {
    ($backend:ident, $new_store:path, $corrupt:path) => {
        mod $backend {
            use crate::conformance as suite;

            #[test]
            fn stored_content_reads_back_verified_with_all_three_digests() {
                suite::stored_content_reads_back_verified_with_all_three_digests($new_store);
            }

            #[test]
            fn the_same_content_twice_is_one_object() {
                suite::the_same_content_twice_is_one_object($new_store);
            }

            #[test]
            fn concurrent_puts_of_the_same_content_store_it_once() {
                suite::concurrent_puts_of_the_same_content_store_it_once($new_store);
            }

            #[test]
            fn evidence_over_the_size_limit_is_refused_naming_the_limit() {
                suite::evidence_over_the_size_limit_is_refused_naming_the_limit($new_store);
            }

            #[test]
            fn an_interrupted_ingest_stores_nothing() {
                suite::an_interrupted_ingest_stores_nothing($new_store);
            }

            #[test]
            fn a_flipped_byte_fails_the_download_and_the_audit() {
                suite::a_flipped_byte_fails_the_download_and_the_audit($new_store, $corrupt);
            }

            #[test]
            fn a_download_that_stops_early_has_no_verdict() {
                suite::a_download_that_stops_early_has_no_verdict($new_store);
            }

            #[test]
            fn auditing_an_object_that_is_not_there_says_so() {
                suite::auditing_an_object_that_is_not_there_says_so($new_store);
            }

            #[test]
            fn an_item_whose_record_disagrees_with_its_content_fails_the_audit() {
                suite::an_item_whose_record_disagrees_with_its_content_fails_the_audit($new_store);
            }

            #[test]
            fn listing_shows_every_object_in_address_order() {
                suite::listing_shows_every_object_in_address_order($new_store);
            }

            #[test]
            fn a_large_image_streams_through_in_bounded_chunks_with_correct_digests() {
                suite::a_large_image_streams_through_in_bounded_chunks_with_correct_digests($new_store);
            }

            #[test]
            fn any_content_round_trips_with_its_digests() {
                suite::any_content_round_trips_with_its_digests($new_store);
            }

            #[test]
            fn any_single_byte_corruption_is_detected() {
                suite::any_single_byte_corruption_is_detected($new_store, $corrupt);
            }
        }
    };
}

conformance!(
    local_dir,
    crate::support::new_store_limited,
    crate::support::corrupt_object
);

/// No limit worth mentioning, for tests that are not about the limit.
const UNLIMITED: u64 = u64::MAX;

pub fn stored_content_reads_back_verified_with_all_three_digests<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let ingested = store.put(&b"abc"[..]).unwrap();
    assert!(ingested.newly_stored);
    // The published test vectors for "abc".
    let digests = ingested.digests;
    assert_eq!(
        digests.sha256.to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(digests.sha1.to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(digests.md5.to_hex(), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(digests.size, 3);

    let mut reader = store.open_verified(&digests.sha256).unwrap();
    assert_eq!(reader.len(), 3);
    let mut content = Vec::new();
    reader.read_to_end(&mut content).unwrap();
    assert_eq!(content, b"abc");
    assert_eq!(reader.verdict(), &Verdict::Intact(digests));
    assert_eq!(reader.verdict().outcome(), VerificationOutcome::Intact);
    assert_eq!(store.verify(&digests.sha256).unwrap(), digests);
}

pub fn the_same_content_twice_is_one_object<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let first = store.put(&b"memory image"[..]).unwrap();
    let second = store.put(&b"memory image"[..]).unwrap();
    assert!(first.newly_stored);
    assert!(!second.newly_stored);
    assert_eq!(second.digests, first.digests);
    assert_eq!(store.list().unwrap().len(), 1);
}

/// The server ingests on a blocking pool, so two uploads of the same image can race: both
/// succeed, exactly one stores the object, and the object is intact.
pub fn concurrent_puts_of_the_same_content_store_it_once<G, S: EvidenceStore + Sync>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let uploads: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| store.put(content.as_slice()).unwrap()))
            .collect();
        uploads.into_iter().map(|upload| upload.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|ingested| ingested.newly_stored).count(), 1);
    let digests = Digests::of(&content);
    assert!(results.iter().all(|ingested| ingested.digests == digests));
    assert_eq!(store.verify(&digests.sha256).unwrap(), digests);
    assert_eq!(store.list().unwrap().len(), 1);
}

pub fn evidence_over_the_size_limit_is_refused_naming_the_limit<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(2 * 1024 * 1024);
    let err = store.put(PatternReader::new(2 * 1024 * 1024 + 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "evidence is larger than the size limit of 2 MiB (2097152 bytes), nothing was stored; raise the store's max_object_bytes to accept it"
    );
    assert!(store.list().unwrap().is_empty());

    let exactly_at_the_limit = store.put(PatternReader::new(2 * 1024 * 1024)).unwrap();
    assert_eq!(exactly_at_the_limit.digests.size, 2 * 1024 * 1024);
}

pub fn an_interrupted_ingest_stores_nothing<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
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
    assert!(err.to_string().contains("nothing was stored"), "{err}");
    assert!(store.list().unwrap().is_empty());
    let would_be = Digests::of(&three_mib).sha256;
    assert!(matches!(
        store.open_verified(&would_be),
        Err(EvidenceError::NotFound { .. })
    ));
}

pub fn a_flipped_byte_fails_the_download_and_the_audit<G, S: EvidenceStore>(
    new_store: fn(u64) -> (G, S),
    corrupt: fn(&S, &Sha256Digest, usize),
) {
    let (_guard, store) = new_store(UNLIMITED);
    let content: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
    let sha256 = store.put(content.as_slice()).unwrap().digests.sha256;
    corrupt(&store, &sha256, 4_321);

    let mut reader = store.open_verified(&sha256).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
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

pub fn a_download_that_stops_early_has_no_verdict<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let sha256 = store.put(&[1u8; 100][..]).unwrap().digests.sha256;
    let mut reader = store.open_verified(&sha256).unwrap();
    let mut first = [0; 10];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(reader.verdict(), &Verdict::Pending);
    assert_eq!(reader.verdict().outcome(), VerificationOutcome::Incomplete);
}

pub fn auditing_an_object_that_is_not_there_says_so<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let missing = Digests::of(b"never stored").sha256;
    let err = store.verify(&missing).unwrap_err();
    assert_eq!(err.to_string(), format!("no evidence object {missing} in the store"));
}

pub fn an_item_whose_record_disagrees_with_its_content_fails_the_audit<G, S: EvidenceStore>(
    new_store: fn(u64) -> (G, S),
) {
    let (_guard, store) = new_store(UNLIMITED);
    let item = item_for(&store.put(&b"log archive"[..]).unwrap(), "logs.tar", Tlp::Green);
    assert_eq!(verify_item(&store, &item).unwrap(), item.digests());

    let mut forged = item.clone();
    forged.md5 = Digests::of(b"something else").md5;
    let err = verify_item(&store, &forged).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "evidence object {}: its record says md5 {}, the content has {}",
            item.sha256, forged.md5, item.md5
        )
    );
}

pub fn listing_shows_every_object_in_address_order<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let mut expected: Vec<_> = [&b"one"[..], b"two", b"three"]
        .into_iter()
        .map(|content| {
            let digests = store.put(content).unwrap().digests;
            (digests.sha256, digests.size)
        })
        .collect();
    expected.sort();
    let listed: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|object| (object.sha256, object.size))
        .collect();
    assert_eq!(listed, expected);
}

/// 64 MiB streams through in chunks of at most 1 MiB; the digests match values computed
/// independently of this crate (Python's hashlib over the same generated bytes).
pub fn a_large_image_streams_through_in_bounded_chunks_with_correct_digests<G, S: EvidenceStore>(
    new_store: fn(u64) -> (G, S),
) {
    const SIZE: u64 = 64 * 1024 * 1024;
    let (_guard, store) = new_store(SIZE);
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

pub fn any_content_round_trips_with_its_digests<G, S: EvidenceStore>(new_store: fn(u64) -> (G, S)) {
    let (_guard, store) = new_store(UNLIMITED);
    let mut runner = TestRunner::new(Config::with_cases(48));
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..70_000), |content| {
            let ingested = store.put(content.as_slice()).unwrap();
            prop_assert_eq!(ingested.digests, Digests::of(&content));
            let mut reader = store.open_verified(&ingested.digests.sha256).unwrap();
            let mut back = Vec::new();
            reader.read_to_end(&mut back).unwrap();
            prop_assert_eq!(back, content);
            Ok(())
        })
        .unwrap();
}

pub fn any_single_byte_corruption_is_detected<G, S: EvidenceStore>(
    new_store: fn(u64) -> (G, S),
    corrupt: fn(&S, &Sha256Digest, usize),
) {
    let mut runner = TestRunner::new(Config::with_cases(48));
    let strategy = (
        proptest::collection::vec(any::<u8>(), 1..5_000),
        any::<prop::sample::Index>(),
    );
    runner
        .run(&strategy, |(content, position)| {
            // A fresh store per case: the corruption stays behind.
            let (_guard, store) = new_store(UNLIMITED);
            let sha256 = store.put(content.as_slice()).unwrap().digests.sha256;
            corrupt(&store, &sha256, position.index(content.len()));
            let audit_failed = matches!(store.verify(&sha256), Err(EvidenceError::HashMismatch { .. }));
            prop_assert!(audit_failed);
            let mut reader = store.open_verified(&sha256).unwrap();
            prop_assert!(reader.read_to_end(&mut Vec::new()).is_err());
            Ok(())
        })
        .unwrap();
}
