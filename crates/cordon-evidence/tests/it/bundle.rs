//! Export bundles: a fresh bundle verifies offline; changing any object, the manifest, the
//! custody log, the journal slice, the signature or the key fails verification and names what
//! changed; hostile input is a report, never a panic.

use std::fs;
use std::io::Read;

use cordon_evidence::{
    BundleProblem, BundleReport, Compression, EvidenceError, EvidenceItem, EvidenceStore, ExportConfig, LocalDirStore,
    Manifest, Tlp, export_bundle, verify_bundle,
};
use ed25519_dalek::Signer;
use proptest::prelude::*;
use tempfile::TempDir;

use crate::support::{
    at, collected, corrupt_object, incident, item_for, new_store, pack, person, signing_key, unpack, verified,
    with_file_changed,
};

struct Fixture {
    _dir: TempDir,
    store: LocalDirStore,
    items: Vec<EvidenceItem>,
}

/// Three items: a disk image, a screenshot, and the same disk image collected again under
/// another name (one object, two items).
fn fixture() -> Fixture {
    let (dir, store) = new_store();
    let disk: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let disk_item = item_for(&store.put(disk.as_slice()).unwrap(), "xvda1.img", Tlp::Amber);
    let screenshot = item_for(
        &store.put(&b"\x89PNG fake screenshot"[..]).unwrap(),
        "console.png",
        Tlp::Red,
    );
    let mut again = item_for(&store.put(disk.as_slice()).unwrap(), "xvda1-copy.img", Tlp::Amber);
    again.source = "evidence safe 2, second copy".to_owned();
    Fixture {
        _dir: dir,
        store,
        items: vec![disk_item, screenshot, again],
    }
}

fn config(compression: Compression) -> ExportConfig {
    ExportConfig {
        incident: incident(),
        exported_by: person("carol"),
        created_at: at("2026-11-28T03:00:00Z"),
        compression,
    }
}

const JOURNAL: &[u8] = br#"[{"seq":1,"event":"declared"},{"seq":2,"event":"evidence-added"}]"#;

fn export(fixture: &Fixture, compression: Compression) -> Vec<u8> {
    let custody: Vec<_> = fixture
        .items
        .iter()
        .flat_map(|item| [collected(item), verified(item)])
        .collect();
    let mut bundle = Vec::new();
    let summary = export_bundle(
        &fixture.store,
        &fixture.items,
        &custody,
        JOURNAL,
        &signing_key(1),
        &config(compression),
        &mut bundle,
    )
    .unwrap();
    assert_eq!(summary.items, 3);
    assert_eq!(summary.objects, 2);
    bundle
}

fn trusted() -> Option<cordon_domain::VerifyingKey> {
    Some(signing_key(1).verifying_key())
}

fn problems(report: &BundleReport) -> Vec<String> {
    report.problems.iter().map(ToString::to_string).collect()
}

fn object_path(item: &EvidenceItem) -> String {
    format!("objects/{}", item.sha256)
}

#[test]
fn a_fresh_bundle_verifies_against_the_trusted_key() {
    let fixture = fixture();
    let bundle = export(&fixture, Compression::None);
    let report = verify_bundle(bundle.as_slice(), trusted());
    assert!(report.is_valid(), "{:?}", problems(&report));
    assert_eq!(report.incident, Some(incident()));
    assert_eq!(report.items, 3);
    assert!(report.checked_against_trusted_key);
    assert_eq!(
        report.bundle_key.as_deref(),
        Some(hex::encode(signing_key(1).verifying_key().as_bytes()).as_str())
    );

    let names: Vec<String> = unpack(&bundle).into_iter().map(|(name, _)| name).collect();
    let mut expected = vec![
        "manifest.json".to_owned(),
        "manifest.sig".to_owned(),
        "public-key.txt".to_owned(),
        "custody.jsonl".to_owned(),
        "journal.json".to_owned(),
    ];
    let mut objects = vec![object_path(&fixture.items[0]), object_path(&fixture.items[1])];
    objects.sort();
    expected.extend(objects);
    assert_eq!(names, expected);
    assert_eq!(report.files_checked, 7);
}

#[test]
fn the_manifest_lists_items_and_every_other_file() {
    let fixture = fixture();
    let files = unpack(&export(&fixture, Compression::None));
    let manifest: Manifest = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest.format, "cordon-evidence-bundle/1");
    assert_eq!(manifest.items, fixture.items);
    let listed: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for (name, bytes) in &files[2..] {
        assert!(listed.contains(&name.as_str()), "{name} not listed");
        let entry = manifest.files.iter().find(|f| &f.path == name).unwrap();
        assert_eq!(entry.sha256, cordon_evidence::sha256_of(bytes));
        assert_eq!(entry.size, bytes.len() as u64);
    }
    let json: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(json["items"][1]["tlp"], "TLP:RED");
    assert_eq!(json["items"][0]["collected_at"], "2026-11-27T22:10:00.000Z");
    assert_eq!(json["items"][0]["source"], "host db-3, /dev/xvda1");
}

#[test]
fn a_gzipped_bundle_verifies_too() {
    let fixture = fixture();
    let bundle = export(&fixture, Compression::Gzip);
    assert_eq!(&bundle[..2], &[0x1f, 0x8b]);
    let report = verify_bundle(bundle.as_slice(), trusted());
    assert!(report.is_valid(), "{:?}", problems(&report));
    assert_eq!(report.files_checked, 7);
}

#[test]
fn the_same_export_twice_gives_the_same_bytes() {
    let fixture = fixture();
    assert_eq!(export(&fixture, Compression::None), export(&fixture, Compression::None));
}

#[test]
fn without_a_trusted_key_the_report_says_the_key_was_not_checked() {
    let fixture = fixture();
    let report = verify_bundle(export(&fixture, Compression::None).as_slice(), None);
    assert!(report.is_valid());
    assert!(!report.checked_against_trusted_key);
}

#[test]
fn a_changed_object_byte_names_the_object() {
    let fixture = fixture();
    let path = object_path(&fixture.items[0]);
    let bundle = with_file_changed(&export(&fixture, Compression::None), &path, |bytes| {
        bytes[123_456] ^= 0x80;
    });
    let report = verify_bundle(bundle.as_slice(), trusted());
    assert!(!report.is_valid());
    assert_eq!(report.problems.len(), 2, "{:?}", problems(&report));
    assert!(matches!(
        &report.problems[0],
        BundleProblem::FileChanged { path: changed, expected_size: 300_000, actual_size: 300_000, .. } if *changed == path
    ));
    assert!(matches!(
        &report.problems[1],
        BundleProblem::ObjectNameMismatch { path: changed, .. } if *changed == path
    ));
    assert!(problems(&report)[0].starts_with(&format!(
        "{path}: changed: the manifest says sha256 {}",
        fixture.items[0].sha256
    )));
}

#[test]
fn a_changed_manifest_fails_its_signature() {
    let fixture = fixture();
    let bundle = with_file_changed(&export(&fixture, Compression::None), "manifest.json", |bytes| {
        let text = String::from_utf8(bytes.clone()).unwrap();
        *bytes = text.replace("TLP:RED", "TLP:CLEAR").into_bytes();
    });
    let report = verify_bundle(bundle.as_slice(), trusted());
    assert_eq!(
        problems(&report),
        [format!(
            "manifest.sig: does not verify manifest.json with key {}: the manifest or its signature was changed",
            hex::encode(signing_key(1).verifying_key().as_bytes())
        )]
    );
}

#[test]
fn a_manifest_re_signed_with_another_key_is_caught_by_the_trusted_key() {
    let fixture = fixture();
    let forger = signing_key(66);
    let mut files = unpack(&export(&fixture, Compression::None));
    let public_key = format!("{}\n", hex::encode(forger.verifying_key().as_bytes()));
    let mut manifest: Manifest = serde_json::from_slice(&files[0].1).unwrap();
    for file in &mut manifest.files {
        if file.path == "public-key.txt" {
            file.sha256 = cordon_evidence::sha256_of(public_key.as_bytes());
        }
    }
    let manifest_json = serde_json::to_vec_pretty(&manifest).unwrap();
    let signature = forger.sign(&manifest_json);
    files[0].1 = manifest_json;
    files[1].1 = format!("{}\n", hex::encode(signature.to_bytes())).into_bytes();
    files[2].1 = public_key.into_bytes();
    let forged = pack(&files);

    // Consistent in itself, so only a trusted key can tell.
    assert!(verify_bundle(forged.as_slice(), None).is_valid());
    let report = verify_bundle(forged.as_slice(), trusted());
    assert!(matches!(
        report.problems.as_slice(),
        [
            BundleProblem::UntrustedKey { .. },
            BundleProblem::SignatureInvalid { .. }
        ]
    ));
    assert!(problems(&report)[0].starts_with("public-key.txt: the bundle is signed by key "));
}

#[test]
fn changed_custody_and_journal_are_named() {
    let fixture = fixture();
    let bundle = export(&fixture, Compression::None);
    for path in ["custody.jsonl", "journal.json"] {
        let changed = with_file_changed(&bundle, path, |bytes| {
            let text = String::from_utf8(bytes.clone()).unwrap();
            *bytes = text.replacen("1", "2", 1).into_bytes();
        });
        let report = verify_bundle(changed.as_slice(), trusted());
        assert_eq!(report.problems.len(), 1, "{:?}", problems(&report));
        assert!(
            matches!(&report.problems[0], BundleProblem::FileChanged { path: named, .. } if named == path),
            "{:?}",
            problems(&report)
        );
    }
}

#[test]
fn a_changed_or_garbled_signature_is_named() {
    let fixture = fixture();
    let bundle = export(&fixture, Compression::None);
    let flipped = with_file_changed(&bundle, "manifest.sig", |bytes| {
        bytes[10] = if bytes[10] == b'0' { b'1' } else { b'0' };
    });
    let report = verify_bundle(flipped.as_slice(), trusted());
    assert!(matches!(
        report.problems.as_slice(),
        [BundleProblem::SignatureInvalid { .. }]
    ));

    let garbled = with_file_changed(&bundle, "manifest.sig", |bytes| {
        *bytes = b"not a signature\n".to_vec();
    });
    let report = verify_bundle(garbled.as_slice(), trusted());
    assert_eq!(
        problems(&report),
        ["manifest.sig: not an ed25519 signature in hex: expected one line of lowercase hex digits"]
    );
}

#[test]
fn missing_and_extra_files_are_named() {
    let fixture = fixture();
    let mut files = unpack(&export(&fixture, Compression::None));
    files.retain(|(name, _)| name != "journal.json");
    files.push(("objects/notes.txt".to_owned(), b"planted".to_vec()));
    let report = verify_bundle(pack(&files).as_slice(), trusted());
    assert_eq!(
        problems(&report),
        [
            "journal.json: missing from the bundle",
            "objects/notes.txt: in the bundle but not in the manifest",
            "objects/notes.txt: not named objects/<sha256>",
        ]
    );
}

#[test]
fn a_missing_object_names_the_file() {
    let fixture = fixture();
    let path = object_path(&fixture.items[1]);
    let mut files = unpack(&export(&fixture, Compression::None));
    files.retain(|(name, _)| *name != path);
    let report = verify_bundle(pack(&files).as_slice(), trusted());
    assert_eq!(problems(&report), [format!("{path}: missing from the bundle")]);
}

#[test]
fn a_bundle_without_manifest_or_signature_says_so() {
    let fixture = fixture();
    let mut files = unpack(&export(&fixture, Compression::None));
    files.retain(|(name, _)| name != "manifest.json" && name != "manifest.sig");
    let report = verify_bundle(pack(&files).as_slice(), trusted());
    assert_eq!(
        problems(&report),
        [
            "manifest.json: missing, so nothing in the bundle can be checked",
            "manifest.sig: missing, so the manifest cannot be trusted",
        ]
    );
}

#[test]
fn something_that_is_not_a_bundle_is_reported_not_panicked_on() {
    for input in [&b""[..], b"hello", &[0x1f, 0x8b, 0, 0][..], &[0xff; 2048][..]] {
        let report = verify_bundle(input, trusted());
        assert!(!report.is_valid());
    }
}

#[test]
fn export_refuses_an_object_that_changed_in_the_store() {
    let fixture = fixture();
    corrupt_object(&fixture.store, &fixture.items[1].sha256, 3);
    let err = export_bundle(
        &fixture.store,
        &fixture.items,
        &[],
        JOURNAL,
        &signing_key(1),
        &config(Compression::None),
        std::io::sink(),
    )
    .unwrap_err();
    assert!(
        matches!(err, EvidenceError::HashMismatch { expected, .. } if expected == fixture.items[1].sha256),
        "{err}"
    );
}

#[test]
fn export_refuses_items_of_another_incident_and_a_journal_that_is_not_json() {
    let fixture = fixture();
    let mut stranger = fixture.items[0].clone();
    stranger.incident = cordon_domain::IncidentId::new("another");
    let err = export_bundle(
        &fixture.store,
        &[stranger],
        &[],
        JOURNAL,
        &signing_key(1),
        &config(Compression::None),
        std::io::sink(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an export bundle holds one incident, but items of 7f3c2a10-incident and another were given"
    );
    let err = export_bundle(
        &fixture.store,
        &fixture.items,
        &[],
        b"{not json",
        &signing_key(1),
        &config(Compression::None),
        std::io::sink(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("the journal slice is not valid JSON"));
}

#[test]
fn committed_fuzz_regressions_are_reported_not_panicked_on() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/verify_bundle");
    let mut checked = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let mut input = Vec::new();
        fs::File::open(entry.unwrap().path())
            .unwrap()
            .read_to_end(&mut input)
            .unwrap();
        let _report = verify_bundle(input.as_slice(), trusted());
        checked += 1;
    }
    assert!(checked > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_changed_byte_of_any_file_fails_verification(
        file in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut files = unpack(shared_bundle());
        let index = file.index(files.len());
        let bytes = &mut files[index].1;
        let offset = position.index(bytes.len());
        bytes[offset] ^= flip;
        let report = verify_bundle(pack(&files).as_slice(), trusted());
        prop_assert!(!report.is_valid(), "changing {} at {} went unnoticed", files[index].0, offset);
    }

    /// Changes land anywhere, tar headers included, which random bytes alone rarely reach.
    #[test]
    fn a_bundle_changed_anywhere_is_a_report_never_a_panic(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bundle = shared_bundle().to_vec();
        for (position, byte) in changes {
            let at = position.index(bundle.len());
            bundle[at] = byte;
        }
        let _report = verify_bundle(bundle.as_slice(), trusted());
    }

    #[test]
    fn any_input_is_a_report_never_a_panic(input in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _report = verify_bundle(input.as_slice(), None);
    }

    #[test]
    fn a_truncated_bundle_never_verifies(cut in any::<prop::sample::Index>()) {
        let bundle = shared_bundle();
        // After the last file's content come only zero padding and the end marker; cutting
        // those loses nothing, so cut somewhere before.
        let last_size = unpack(bundle).last().unwrap().1.len();
        let content_end = bundle.len() - 1024 - (512 - last_size % 512) % 512;
        let length = cut.index(content_end);
        let report = verify_bundle(&bundle[..length], trusted());
        prop_assert!(!report.is_valid());
    }
}

/// One small bundle for the property tests, built once.
fn shared_bundle() -> &'static [u8] {
    static BUNDLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BUNDLE.get_or_init(|| export(&fixture(), Compression::None))
}

/// The manifest format, as a lead reading a bundle by hand sees it.
#[test]
fn the_manifest_reads_like_this() {
    let (_dir, store) = new_store();
    let item = item_for(
        &store.put(&b"hello evidence"[..]).unwrap(),
        "note.txt",
        Tlp::AmberStrict,
    );
    let mut bundle = Vec::new();
    export_bundle(
        &store,
        std::slice::from_ref(&item),
        &[collected(&item)],
        b"[]",
        &signing_key(1),
        &config(Compression::None),
        &mut bundle,
    )
    .unwrap();
    let files = unpack(&bundle);
    expect_test::expect![[r#"
        {
          "format": "cordon-evidence-bundle/1",
          "incident": "7f3c2a10-incident",
          "exported_by": "carol",
          "created_at": "2026-11-28T03:00:00.000Z",
          "items": [
            {
              "incident": "7f3c2a10-incident",
              "sha256": "9af4c73b2a919f220f4b008e466b52808a1987122d95ff0f2dde00968e36e844",
              "sha1": "b921969cc2b26c3a4a6df373dbce4dad3141f090",
              "md5": "3b260e1b54e84a3bd4ddd1b87469928d",
              "size": 14,
              "original_name": "note.txt",
              "source": "host db-3, /dev/xvda1",
              "collected_by": "alice",
              "collected_at": "2026-11-27T22:10:00.000Z",
              "stored_at": "2026-11-27T22:40:00.000Z",
              "tlp": "TLP:AMBER+STRICT",
              "retention": {
                "state": "standard"
              }
            }
          ],
          "files": [
            {
              "path": "public-key.txt",
              "sha256": "68d9aeb400e1dcc1513eeffb850354de3632cda39b0149bbe2ca2b3a49c28620",
              "size": 65
            },
            {
              "path": "custody.jsonl",
              "sha256": "b8277bb758e7dc587a7f96486c81392cc6fc98700e1efa11ebc8aa5faea750b4",
              "size": 300
            },
            {
              "path": "journal.json",
              "sha256": "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
              "size": 2
            },
            {
              "path": "objects/9af4c73b2a919f220f4b008e466b52808a1987122d95ff0f2dde00968e36e844",
              "sha256": "9af4c73b2a919f220f4b008e466b52808a1987122d95ff0f2dde00968e36e844",
              "size": 14
            }
          ]
        }
    "#]]
    .assert_eq(&String::from_utf8(files[0].1.clone()).unwrap());
    expect_test::expect![[r#"
        {"incident":"7f3c2a10-incident","item":"9af4c73b2a919f220f4b008e466b52808a1987122d95ff0f2dde00968e36e844","at":"2026-11-27T22:10:00.000Z","actor":{"member":"alice"},"location":"db-3","reason":"suspected compromise, image before rebuild","event":{"kind":"collected","source":"host db-3, /dev/xvda1"}}
    "#]].assert_eq(&String::from_utf8(files[3].1.clone()).unwrap());
}

#[test]
fn a_repacked_bundle_with_dot_slash_names_and_directories_still_verifies() {
    let fixture = fixture();
    let files = unpack(&export(&fixture, Compression::None));
    let mut builder = tar::Builder::new(Vec::new());
    for directory in ["./", "./objects/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        builder.append_data(&mut header, directory, &[][..]).unwrap();
    }
    for (path, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        builder
            .append_data(&mut header, format!("./{path}"), bytes.as_slice())
            .unwrap();
    }
    let repacked = builder.into_inner().unwrap();
    let report = verify_bundle(repacked.as_slice(), trusted());
    assert!(report.is_valid(), "{:?}", problems(&report));
}

#[test]
fn duplicate_files_and_links_are_named() {
    let fixture = fixture();
    let mut files = unpack(&export(&fixture, Compression::None));
    let forged_journal = (String::from("journal.json"), b"[\"rewritten\"]".to_vec());
    files.push(forged_journal);
    let mut bundle = pack(&files);
    // Take off the end marker so a link entry can follow.
    bundle.truncate(bundle.len() - 1024);
    let mut builder = tar::Builder::new(bundle);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "objects/link", "/etc/passwd").unwrap();
    let bundle = builder.into_inner().unwrap();

    let report = verify_bundle(bundle.as_slice(), trusted());
    assert_eq!(
        problems(&report),
        [
            "journal.json: appears more than once in the bundle",
            "objects/link: is a symlink entry, only regular files belong in a bundle",
        ]
    );
}

#[test]
fn a_damaged_gzip_bundle_does_not_verify() {
    let fixture = fixture();
    let mut bundle = export(&fixture, Compression::Gzip);
    let middle = bundle.len() / 2;
    bundle[middle] ^= 0xff;
    let report = verify_bundle(bundle.as_slice(), trusted());
    assert!(!report.is_valid());
}

#[test]
fn a_cut_off_bundle_names_the_files_it_lost() {
    let fixture = fixture();
    let bundle = export(&fixture, Compression::None);
    let last_object = unpack(&bundle).last().unwrap().0.clone();
    // Cut in the middle of the last object's content.
    let cut = &bundle[..bundle.len() - 1024 - 2048];
    let report = verify_bundle(cut, trusted());
    let problems = problems(&report);
    assert!(
        problems[0].starts_with(&format!("the bundle cannot be read as a tar archive: {last_object}: ")),
        "{problems:?}"
    );
    assert_eq!(problems[1..], [format!("{last_object}: missing from the bundle")]);
}
