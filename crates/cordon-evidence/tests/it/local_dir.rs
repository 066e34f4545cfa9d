//! What the conformance suite cannot see of the local directory store: the on-disk layout,
//! read-only objects, links that never replace a file, and partial files that never linger.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use cordon_evidence::{EvidenceStore, LocalDirStore, StoreConfig};

use crate::support::{FailingReader, PatternReader, new_store, new_store_with};

/// The server shares one store between request handlers and streams downloads from blocking
/// threads.
#[test]
fn the_store_and_its_readers_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<LocalDirStore>();
    assert_send::<cordon_evidence::VerifiedReader<std::fs::File>>();
    assert_send_sync::<cordon_evidence::EvidenceError>();
}

fn incoming_files(store: &LocalDirStore) -> usize {
    fs::read_dir(store.root().join("incoming")).unwrap().count()
}

#[test]
fn objects_are_read_only_files_named_by_their_sha256() {
    let (_dir, store) = new_store();
    let sha256 = store.put(&b"abc"[..]).unwrap().digests.sha256;
    let path = store.object_path(&sha256);
    assert!(path.ends_with("objects/ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
    assert_eq!(fs::read(&path).unwrap(), b"abc");
    assert_eq!(incoming_files(&store), 0);
}

#[test]
fn storing_the_same_content_again_leaves_the_first_file_in_place() {
    let (_dir, store) = new_store();
    let sha256 = store.put(&b"memory image"[..]).unwrap().digests.sha256;
    let inode = fs::metadata(store.object_path(&sha256)).unwrap().ino();
    store.put(&b"memory image"[..]).unwrap();
    assert_eq!(fs::metadata(store.object_path(&sha256)).unwrap().ino(), inode);
    assert_eq!(incoming_files(&store), 0);
}

#[test]
fn refused_and_interrupted_ingests_leave_no_partial_file() {
    let (_dir, store) = new_store_with(StoreConfig {
        max_object_bytes: 1024 * 1024,
    });
    store.put(PatternReader::new(1024 * 1024 + 1)).unwrap_err();
    assert_eq!(incoming_files(&store), 0);
    store
        .put(FailingReader {
            content: io::Cursor::new(vec![1; 1000]),
        })
        .unwrap_err();
    assert_eq!(incoming_files(&store), 0);
    assert_eq!(fs::read_dir(store.root().join("objects")).unwrap().count(), 0);
}

#[test]
fn partial_files_left_by_a_crash_are_removed_when_the_store_opens_again() {
    let (_dir, store) = new_store();
    let root = store.root().to_path_buf();
    fs::write(root.join("incoming/ingest-4242-0.partial"), b"half a disk").unwrap();
    fs::write(root.join("incoming/ingest-4242-1.partial"), b"").unwrap();
    drop(store);

    let reopened = LocalDirStore::open(&root, StoreConfig::default()).unwrap();
    assert_eq!(reopened.abandoned_partials_removed(), 2);
    assert_eq!(incoming_files(&reopened), 0);
    assert!(reopened.list().unwrap().is_empty());
}

#[test]
fn files_not_named_like_objects_are_not_listed() {
    let (_dir, store) = new_store();
    let sha256 = store.put(&b"one"[..]).unwrap().digests.sha256;
    fs::write(store.root().join("objects/README"), b"not evidence").unwrap();
    fs::create_dir_all(store.root().join("objects/zz")).unwrap();
    fs::write(store.root().join("objects/zz/junk"), b"not evidence").unwrap();
    let listed: Vec<_> = store.list().unwrap().into_iter().map(|object| object.sha256).collect();
    assert_eq!(listed, [sha256]);
}
