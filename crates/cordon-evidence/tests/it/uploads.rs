//! Resumable uploads on the local directory store: pieces across a restart, wrong offsets,
//! dropped connections, the size limit, a declared hash that does not match, and ids that try
//! to name something else.

use std::io;

use cordon_evidence::{Digests, EvidenceError, EvidenceStore, LocalDirStore, ResumableUploads, StoreConfig, UploadId};

use crate::support::{FailingReader, new_store, new_store_with};

fn image() -> Vec<u8> {
    (0..5_000_000u32).map(|i| (i % 239) as u8).collect()
}

#[test]
fn an_upload_in_pieces_survives_a_restart_and_becomes_evidence_when_finished() {
    let (_dir, store) = new_store();
    let image = image();
    let (first, rest) = image.split_at(1_500_000);
    let (second, third) = rest.split_at(2_000_000);

    let upload = store.begin_upload("incident-1").unwrap();
    assert_eq!(store.append_upload(&upload, 0, first).unwrap(), 1_500_000);
    assert!(store.list().unwrap().is_empty(), "an unfinished upload is not evidence");

    let root = store.root().to_path_buf();
    drop(store);
    let store = LocalDirStore::open(&root, StoreConfig::default()).unwrap();
    let status = store.upload_status(&upload).unwrap();
    assert_eq!(status.received, 1_500_000);
    assert_eq!(status.label, "incident-1", "the label survives the restart too");
    assert!(status.last_written_at.unix_millis() > 0);

    store.append_upload(&upload, 1_500_000, second).unwrap();
    store.append_upload(&upload, 3_500_000, third).unwrap();
    let declared = Digests::of(&image).sha256;
    let ingested = store.finish_upload(&upload, Some(&declared)).unwrap();
    assert!(ingested.newly_stored);
    assert_eq!(ingested.digests, Digests::of(&image));
    assert_eq!(store.verify(&declared).unwrap(), ingested.digests);
    assert!(store.list_uploads().unwrap().is_empty());
    let leftovers = std::fs::read_dir(store.root().join("uploads")).unwrap().count();
    assert_eq!(
        leftovers, 0,
        "neither the content nor the label of a finished upload stays"
    );
    assert!(matches!(
        store.upload_status(&upload),
        Err(EvidenceError::UnknownUpload { .. })
    ));
}

#[test]
fn a_piece_for_the_wrong_offset_says_where_to_resume() {
    let (_dir, store) = new_store();
    let upload = store.begin_upload("incident-1").unwrap();
    store.append_upload(&upload, 0, &b"0123456789"[..]).unwrap();
    let err = store.append_upload(&upload, 0, &b"0123456789"[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("upload {upload} has received 10 bytes, but the piece was sent for offset 0; resume from 10")
    );
    assert_eq!(store.upload_status(&upload).unwrap().received, 10);
}

#[test]
fn a_dropped_connection_keeps_what_arrived() {
    let (_dir, store) = new_store();
    let image = image();
    let upload = store.begin_upload("incident-1").unwrap();
    let err = store
        .append_upload(
            &upload,
            0,
            FailingReader {
                content: io::Cursor::new(image[..2_500_000].to_vec()),
            },
        )
        .unwrap_err();
    assert!(matches!(
        err,
        EvidenceError::UploadInterrupted {
            received: 2_500_000,
            ..
        }
    ));
    assert_eq!(store.upload_status(&upload).unwrap().received, 2_500_000);
    store.append_upload(&upload, 2_500_000, &image[2_500_000..]).unwrap();
    let ingested = store.finish_upload(&upload, None).unwrap();
    assert_eq!(ingested.digests, Digests::of(&image));
}

#[test]
fn an_upload_over_the_size_limit_is_refused_and_thrown_away() {
    let (_dir, store) = new_store_with(StoreConfig {
        max_object_bytes: 1_000_000,
    });
    let upload = store.begin_upload("incident-1").unwrap();
    store.append_upload(&upload, 0, &[0u8; 600_000][..]).unwrap();
    let err = store.append_upload(&upload, 600_000, &[0u8; 600_000][..]).unwrap_err();
    assert!(matches!(err, EvidenceError::TooLarge { limit_bytes: 1_000_000 }));
    assert!(store.list_uploads().unwrap().is_empty());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn a_finished_upload_that_does_not_match_the_declared_hash_is_not_stored() {
    let (_dir, store) = new_store();
    let upload = store.begin_upload("incident-1").unwrap();
    store.append_upload(&upload, 0, &b"what arrived"[..]).unwrap();
    let declared = Digests::of(b"what was sent").sha256;
    let err = store.finish_upload(&upload, Some(&declared)).unwrap_err();
    assert!(err.to_string().contains("nothing was stored"), "{err}");
    assert!(store.list().unwrap().is_empty());
    store.abandon_upload(&upload).unwrap();
    assert!(store.list_uploads().unwrap().is_empty());
}

#[test]
fn finishing_content_that_is_already_stored_keeps_the_first_copy() {
    let (_dir, store) = new_store();
    let first = store.put(&b"disk image"[..]).unwrap();
    let upload = store.begin_upload("incident-1").unwrap();
    store.append_upload(&upload, 0, &b"disk image"[..]).unwrap();
    let again = store.finish_upload(&upload, None).unwrap();
    assert!(!again.newly_stored);
    assert_eq!(again.digests, first.digests);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn upload_ids_cannot_name_other_files() {
    for hostile in [
        "../objects/ab",
        "",
        "ABCDEF0123456789abcdef0123456789",
        "0123456789abcdef0123456789abcdef/",
    ] {
        assert!(matches!(
            UploadId::parse(hostile),
            Err(EvidenceError::InvalidUploadId { .. })
        ));
    }
    let (_dir, store) = new_store();
    let never_begun = UploadId::parse("0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(
        store.append_upload(&never_begun, 0, &b"x"[..]).unwrap_err().to_string(),
        "no upload 0123456789abcdef0123456789abcdef: it was finished, abandoned or never begun"
    );
    let json = serde_json::to_string(&never_begun).unwrap();
    assert_eq!(serde_json::from_str::<UploadId>(&json).unwrap(), never_begun);
    assert!(serde_json::from_str::<UploadId>("\"../x\"").is_err());
}

#[test]
fn unfinished_uploads_are_listed_with_what_they_received() {
    let (_dir, store) = new_store();
    let empty = store.begin_upload("incident-1").unwrap();
    let started = store.begin_upload("incident-1").unwrap();
    store.append_upload(&started, 0, &b"abc"[..]).unwrap();
    let mut expected = vec![(empty, 0), (started, 3)];
    expected.sort();
    let listed: Vec<_> = store
        .list_uploads()
        .unwrap()
        .into_iter()
        .map(|status| (status.upload, status.received))
        .collect();
    assert_eq!(listed, expected);
}
