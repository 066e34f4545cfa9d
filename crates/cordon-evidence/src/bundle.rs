//! The export bundle: one tar archive (optionally gzipped) that carries an incident's evidence,
//! its chain of custody and journal slice, and a signed manifest, and that verifies offline.
//!
//! Layout, in archive order:
//!
//! ```text
//! manifest.json      items (hashes, size, source, collector, times, TLP) and the SHA-256 and
//!                    size of every other file below
//! manifest.sig       ed25519 signature over the exact bytes of manifest.json, hex
//! public-key.txt     the verifying key, hex (compare it with the installation's published key)
//! custody.jsonl      one custody entry per line
//! journal.json       the incident's journal slice, as the caller gave it
//! objects/<sha256>   each item's content, once per distinct content
//! ```
//!
//! The manifest comes first so that a verifier knows what to expect, and because it can be
//! written before the objects are read: an object's hash is its name. Objects are streamed
//! through [`VerifiedReader`](crate::VerifiedReader), so a bundle is never built from content
//! that no longer matches its address.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};

use cordon_domain::{IncidentId, Person, Timestamp};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::custody::CustodyEntry;
use crate::digest::{Digests, MultiHasher, Sha256Digest, sha256_of};
use crate::error::EvidenceError;
use crate::item::EvidenceItem;
use crate::store::{CHUNK_BYTES, EvidenceStore, Verdict};

/// The `format` field of every manifest this version writes.
pub const BUNDLE_FORMAT: &str = "cordon-evidence-bundle/1";

pub const MANIFEST_PATH: &str = "manifest.json";
pub const SIGNATURE_PATH: &str = "manifest.sig";
pub const PUBLIC_KEY_PATH: &str = "public-key.txt";
pub const CUSTODY_PATH: &str = "custody.jsonl";
pub const JOURNAL_PATH: &str = "journal.json";
pub const OBJECTS_PREFIX: &str = "objects/";

/// The largest non-object file a verifier reads into memory. Anything larger is reported
/// rather than read, so a hostile bundle cannot exhaust memory.
pub const MAX_METADATA_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How an export is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The incident every item must belong to.
    pub incident: IncidentId,
    pub exported_by: Person,
    /// Recorded in the manifest, and used as every archive entry's modification time so that
    /// the same export twice gives the same bytes.
    pub created_at: Timestamp,
    pub compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar archive. Disk images rarely compress well, and tar is readable everywhere.
    #[default]
    None,
    Gzip,
}

/// The signed table of contents of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub incident: IncidentId,
    pub exported_by: Person,
    #[serde(with = "crate::serde_time")]
    pub created_at: Timestamp,
    pub items: Vec<EvidenceItem>,
    /// Every file in the bundle except `manifest.json` and `manifest.sig`.
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// What [`export_bundle`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub manifest_sha256: Sha256Digest,
    pub items: usize,
    /// Distinct objects written (items with the same content share one).
    pub objects: usize,
    pub object_bytes: u64,
}

/// Writes an export bundle for `items` to `writer`, reading their content from `store`.
///
/// Every object is re-verified as it is copied: if one no longer matches its address, the
/// export fails with [`EvidenceError::HashMismatch`]. On any error the output is incomplete and
/// must be discarded.
pub fn export_bundle<S: EvidenceStore, W: Write>(
    store: &S,
    items: &[EvidenceItem],
    custody: &[CustodyEntry],
    journal_slice_json: &[u8],
    signing_key: &SigningKey,
    config: &ExportConfig,
    writer: W,
) -> Result<ExportSummary, EvidenceError> {
    if let Some(stranger) = items.iter().find(|item| item.incident != config.incident) {
        return Err(EvidenceError::MixedIncidents {
            first: config.incident.to_string(),
            other: stranger.incident.to_string(),
        });
    }
    if let Some(stranger) = custody.iter().find(|entry| entry.incident != config.incident) {
        return Err(EvidenceError::MixedIncidents {
            first: config.incident.to_string(),
            other: stranger.incident.to_string(),
        });
    }
    serde_json::from_slice::<serde_json::Value>(journal_slice_json)
        .map_err(|source| EvidenceError::JournalNotJson { source })?;

    let custody_jsonl = custody_lines(custody)?;
    let public_key = format!("{}\n", hex::encode(signing_key.verifying_key().as_bytes()));

    // Items with the same content share one object.
    let mut objects: BTreeMap<Sha256Digest, u64> = BTreeMap::new();
    for item in items {
        objects.insert(item.sha256, item.size);
    }
    let mut files = vec![
        manifest_file(PUBLIC_KEY_PATH, public_key.as_bytes()),
        manifest_file(CUSTODY_PATH, &custody_jsonl),
        manifest_file(JOURNAL_PATH, journal_slice_json),
    ];
    files.extend(objects.iter().map(|(sha256, size)| ManifestFile {
        path: object_path(sha256),
        sha256: *sha256,
        size: *size,
    }));
    let manifest = Manifest {
        format: BUNDLE_FORMAT.to_owned(),
        incident: config.incident.clone(),
        exported_by: config.exported_by.clone(),
        created_at: config.created_at,
        items: items.to_vec(),
        files,
    };
    let mut manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|source| EvidenceError::Serialize {
        what: "the manifest",
        source,
    })?;
    manifest_json.push(b'\n');
    let signature = signing_key.sign(&manifest_json);
    let signature_hex = format!("{}\n", hex::encode(signature.to_bytes()));

    let mtime = u64::try_from(config.created_at.unix_millis() / 1000).unwrap_or(0);
    let metadata_files = [
        (MANIFEST_PATH, manifest_json.as_slice()),
        (SIGNATURE_PATH, signature_hex.as_bytes()),
        (PUBLIC_KEY_PATH, public_key.as_bytes()),
        (CUSTODY_PATH, custody_jsonl.as_slice()),
        (JOURNAL_PATH, journal_slice_json),
    ];
    let mut object_bytes = 0;
    let finished = match config.compression {
        Compression::None => write_archive(writer, store, mtime, metadata_files, &objects, &mut object_bytes)?.flush(),
        Compression::Gzip => {
            let encoder = GzEncoder::new(writer, flate2::Compression::default());
            write_archive(encoder, store, mtime, metadata_files, &objects, &mut object_bytes)?
                .finish()
                .and_then(|mut inner| inner.flush())
        }
    };
    finished.map_err(bundle_write_error("the end of the archive"))?;
    Ok(ExportSummary {
        manifest_sha256: sha256_of(&manifest_json),
        items: items.len(),
        objects: objects.len(),
        object_bytes,
    })
}

/// The outcome of [`verify_bundle`]: valid when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    pub problems: Vec<BundleProblem>,
    /// The manifest's incident, if the manifest could be read.
    pub incident: Option<IncidentId>,
    pub items: usize,
    /// Files in the archive that were hashed.
    pub files_checked: usize,
    /// The key in `public-key.txt`, hex, if it could be read.
    pub bundle_key: Option<String>,
    /// Whether the caller supplied a trusted key to compare the bundle's key with. Without one,
    /// a valid signature only shows the bundle is unchanged since someone holding
    /// `bundle_key` signed it.
    pub checked_against_trusted_key: bool,
}

impl BundleReport {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong with a bundle, naming the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum BundleProblem {
    #[error("the bundle cannot be read as a tar archive: {reason}")]
    Unreadable { reason: String },
    #[error("{path}: missing from the bundle")]
    MissingFile { path: String },
    #[error("{path}: in the bundle but not in the manifest")]
    ExtraFile { path: String },
    #[error("{path}: appears more than once in the bundle")]
    DuplicateFile { path: String },
    #[error("{path}: is a {kind} entry, only regular files belong in a bundle")]
    UnexpectedEntry { path: String, kind: String },
    #[error(
        "{path}: changed: the manifest says sha256 {expected_sha256} ({expected_size} bytes), the file has sha256 {actual_sha256} ({actual_size} bytes)"
    )]
    FileChanged {
        path: String,
        expected_sha256: Sha256Digest,
        expected_size: u64,
        actual_sha256: Sha256Digest,
        actual_size: u64,
    },
    #[error("{path}: content hashes to {actual_sha256}, not to the name it is stored under")]
    ObjectNameMismatch { path: String, actual_sha256: Sha256Digest },
    #[error("{path}: not named objects/<sha256>")]
    BadObjectName { path: String },
    #[error("{path}: the manifest records {algorithm} {recorded} for this item, the content has {actual}")]
    ItemDigestMismatch {
        path: String,
        algorithm: String,
        recorded: String,
        actual: String,
    },
    #[error("item {sha256}: the manifest lists no file objects/{sha256} for it")]
    ItemWithoutObject { sha256: Sha256Digest },
    #[error("item {sha256}: belongs to incident {item_incident}, the bundle to {bundle_incident}")]
    ItemOfAnotherIncident {
        sha256: Sha256Digest,
        item_incident: String,
        bundle_incident: String,
    },
    #[error("manifest.json: missing, so nothing in the bundle can be checked")]
    ManifestMissing,
    #[error("manifest.json: not a valid manifest: {reason}")]
    ManifestMalformed { reason: String },
    #[error("manifest.json: format {format:?} is not one this version reads ({BUNDLE_FORMAT})")]
    UnsupportedFormat { format: String },
    #[error("manifest.sig: missing, so the manifest cannot be trusted")]
    SignatureMissing,
    #[error("manifest.sig: not an ed25519 signature in hex: {reason}")]
    SignatureMalformed { reason: String },
    #[error("manifest.sig: does not verify manifest.json with key {key}: the manifest or its signature was changed")]
    SignatureInvalid { key: String },
    #[error("public-key.txt: missing")]
    PublicKeyMissing,
    #[error("public-key.txt: not an ed25519 public key in hex: {reason}")]
    PublicKeyMalformed { reason: String },
    #[error("public-key.txt: the bundle is signed by key {bundle_key}, not by the trusted key {trusted_key}")]
    UntrustedKey { bundle_key: String, trusted_key: String },
    #[error("{path}: larger than {MAX_METADATA_FILE_BYTES} bytes, not read")]
    MetadataTooLarge { path: String },
    #[error("{path}: line {line}: {reason}")]
    MalformedLine { path: String, line: usize, reason: String },
    #[error("{path}: not valid JSON: {reason}")]
    MalformedJson { path: String, reason: String },
}

/// Checks a bundle offline: every file against the manifest, every object against its name and
/// the item's recorded digests, the manifest against its signature, and the signing key against
/// `trusted_key` when one is given. Reads the archive once, in constant memory apart from the
/// small metadata files; never fails, never panics: whatever is wrong is a problem in the
/// report.
pub fn verify_bundle<R: Read>(reader: R, trusted_key: Option<VerifyingKey>) -> BundleReport {
    let mut report = BundleReport {
        problems: Vec::new(),
        incident: None,
        items: 0,
        files_checked: 0,
        bundle_key: None,
        checked_against_trusted_key: trusted_key.is_some(),
    };
    // A damaged or cut-off archive is reported, and what could be read is still checked, so
    // the report also names the files that are missing or changed.
    let mut contents = ArchiveContents::default();
    if let Err(reason) = read_archive(reader, &mut contents, &mut report.problems) {
        report.problems.push(BundleProblem::Unreadable { reason });
    }
    report.files_checked = contents.files.len();
    check_contents(&contents, trusted_key, &mut report);
    report
}

/// Writes the archive's entries into `writer` and returns it after the end-of-archive marker.
fn write_archive<S: EvidenceStore, W: Write>(
    writer: W,
    store: &S,
    mtime: u64,
    metadata_files: [(&str, &[u8]); 5],
    objects: &BTreeMap<Sha256Digest, u64>,
    object_bytes: &mut u64,
) -> Result<W, EvidenceError> {
    let mut archive = tar::Builder::new(writer);
    for (path, bytes) in metadata_files {
        let mut header = entry_header(bytes.len() as u64, mtime);
        archive
            .append_data(&mut header, path, bytes)
            .map_err(bundle_write_error(path))?;
    }
    for (sha256, recorded_size) in objects {
        let path = object_path(sha256);
        let mut reader = store.open_verified(sha256)?;
        if reader.len() != *recorded_size {
            return Err(EvidenceError::SizeMismatch {
                sha256: *sha256,
                recorded: *recorded_size,
                actual: reader.len(),
            });
        }
        let mut header = entry_header(*recorded_size, mtime);
        // The tar writer copies until the reader ends; the verified reader fails at that end
        // if the content changed, which fails the export.
        let appended = archive.append_data(&mut header, &path, &mut reader);
        match (appended, reader.verdict()) {
            (Ok(()), Verdict::Intact(digests)) if digests.size == *recorded_size => {
                *object_bytes += digests.size;
            }
            (Ok(()), Verdict::Intact(digests)) => {
                return Err(EvidenceError::SizeMismatch {
                    sha256: *sha256,
                    recorded: *recorded_size,
                    actual: digests.size,
                });
            }
            (_, Verdict::Mismatch { actual }) => {
                return Err(EvidenceError::HashMismatch {
                    expected: *sha256,
                    actual: actual.sha256,
                });
            }
            (Err(source), _) => return Err(bundle_write_error(&path)(source)),
            (Ok(()), Verdict::Pending) => {
                return Err(bundle_write_error(&path)(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the object was not read to its end",
                )));
            }
        }
    }
    archive
        .into_inner()
        .map_err(bundle_write_error("the end of the archive"))
}

fn entry_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o444);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn bundle_write_error(path: &str) -> impl FnOnce(io::Error) -> EvidenceError {
    let path = path.to_owned();
    move |source| EvidenceError::BundleWrite { path, source }
}

fn custody_lines(custody: &[CustodyEntry]) -> Result<Vec<u8>, EvidenceError> {
    let mut lines = Vec::new();
    for entry in custody {
        serde_json::to_writer(&mut lines, entry).map_err(|source| EvidenceError::Serialize {
            what: "a custody entry",
            source,
        })?;
        lines.push(b'\n');
    }
    Ok(lines)
}

fn manifest_file(path: &str, bytes: &[u8]) -> ManifestFile {
    ManifestFile {
        path: path.to_owned(),
        sha256: sha256_of(bytes),
        size: bytes.len() as u64,
    }
}

fn object_path(sha256: &Sha256Digest) -> String {
    format!("{OBJECTS_PREFIX}{sha256}")
}

/// What reading the archive found: every regular file's digests, and the bytes of the small
/// metadata files.
#[derive(Default)]
struct ArchiveContents {
    files: BTreeMap<String, Digests>,
    metadata: BTreeMap<String, Vec<u8>>,
}

const METADATA_PATHS: [&str; 5] = [
    MANIFEST_PATH,
    SIGNATURE_PATH,
    PUBLIC_KEY_PATH,
    CUSTODY_PATH,
    JOURNAL_PATH,
];

fn read_archive<R: Read>(
    reader: R,
    contents: &mut ArchiveContents,
    problems: &mut Vec<BundleProblem>,
) -> Result<(), String> {
    let mut buffered = BufReader::new(reader);
    let is_gzip = buffered
        .fill_buf()
        .map_err(|err| err.to_string())?
        .starts_with(&[0x1f, 0x8b]);
    let decompressed: Box<dyn Read> = if is_gzip {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut archive = tar::Archive::new(decompressed);
    let mut buffer = vec![0; CHUNK_BYTES];
    let entries = archive.entries().map_err(|err| err.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|err| err.to_string())?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        // Tolerate a bundle that was unpacked and packed again with `tar -C dir -cf x .`.
        let path = raw_path.strip_prefix("./").unwrap_or(&raw_path).to_owned();
        let entry_type = entry.header().entry_type();
        if entry_type.is_dir() {
            continue;
        }
        if !(entry_type.is_file() || entry_type == tar::EntryType::Continuous) {
            problems.push(BundleProblem::UnexpectedEntry {
                path,
                kind: format!("{entry_type:?}").to_lowercase(),
            });
            continue;
        }
        if contents.files.contains_key(&path) {
            problems.push(BundleProblem::DuplicateFile { path });
            continue;
        }
        let keep = METADATA_PATHS.contains(&path.as_str());
        let mut kept = Vec::new();
        let mut too_large = false;
        let mut hasher = MultiHasher::new();
        loop {
            let read = match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("{path}: {err}")),
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            hasher.update(chunk);
            if keep && !too_large {
                if hasher.size() > MAX_METADATA_FILE_BYTES {
                    too_large = true;
                    kept = Vec::new();
                } else {
                    kept.extend_from_slice(chunk);
                }
            }
        }
        // The tar reader ends an entry early, without an error, when the archive is cut off.
        let declared = entry.size();
        if hasher.size() != declared {
            return Err(format!(
                "{path}: the archive ends after {} of its {declared} bytes",
                hasher.size()
            ));
        }
        if too_large {
            problems.push(BundleProblem::MetadataTooLarge { path: path.clone() });
        } else if keep {
            contents.metadata.insert(path.clone(), kept);
        }
        contents.files.insert(path, hasher.finish());
    }
    Ok(())
}

fn check_contents(contents: &ArchiveContents, trusted_key: Option<VerifyingKey>, report: &mut BundleReport) {
    let problems = &mut report.problems;
    let manifest_bytes = contents.metadata.get(MANIFEST_PATH);
    let manifest = match manifest_bytes {
        None => {
            if !contents.files.contains_key(MANIFEST_PATH) {
                problems.push(BundleProblem::ManifestMissing);
            }
            None
        }
        Some(bytes) => match serde_json::from_slice::<Manifest>(bytes) {
            Ok(manifest) => Some(manifest),
            Err(err) => {
                problems.push(BundleProblem::ManifestMalformed {
                    reason: err.to_string(),
                });
                None
            }
        },
    };

    check_signature(contents, manifest_bytes, trusted_key, report);
    let problems = &mut report.problems;

    let Some(manifest) = manifest else {
        return;
    };
    report.incident = Some(manifest.incident.clone());
    report.items = manifest.items.len();
    if manifest.format != BUNDLE_FORMAT {
        problems.push(BundleProblem::UnsupportedFormat {
            format: manifest.format.clone(),
        });
    }

    check_files(contents, &manifest, problems);
    check_items(contents, &manifest, problems);
    check_custody(contents, problems);
    if let Some(journal) = contents.metadata.get(JOURNAL_PATH)
        && let Err(err) = serde_json::from_slice::<serde_json::Value>(journal)
    {
        problems.push(BundleProblem::MalformedJson {
            path: JOURNAL_PATH.to_owned(),
            reason: err.to_string(),
        });
    }
}

fn check_signature(
    contents: &ArchiveContents,
    manifest_bytes: Option<&Vec<u8>>,
    trusted_key: Option<VerifyingKey>,
    report: &mut BundleReport,
) {
    let problems = &mut report.problems;
    let bundle_key = match contents.metadata.get(PUBLIC_KEY_PATH) {
        None => {
            if !contents.files.contains_key(PUBLIC_KEY_PATH) {
                problems.push(BundleProblem::PublicKeyMissing);
            }
            None
        }
        Some(bytes) => match parse_public_key(bytes) {
            Ok(key) => Some(key),
            Err(reason) => {
                problems.push(BundleProblem::PublicKeyMalformed { reason });
                None
            }
        },
    };
    report.bundle_key = bundle_key.map(|key| hex::encode(key.as_bytes()));
    if let (Some(trusted), Some(bundle)) = (trusted_key, bundle_key)
        && trusted != bundle
    {
        problems.push(BundleProblem::UntrustedKey {
            bundle_key: hex::encode(bundle.as_bytes()),
            trusted_key: hex::encode(trusted.as_bytes()),
        });
    }
    let signature = match contents.metadata.get(SIGNATURE_PATH) {
        None => {
            if !contents.files.contains_key(SIGNATURE_PATH) {
                problems.push(BundleProblem::SignatureMissing);
            }
            None
        }
        Some(bytes) => match parse_signature(bytes) {
            Ok(signature) => Some(signature),
            Err(reason) => {
                problems.push(BundleProblem::SignatureMalformed { reason });
                None
            }
        },
    };
    // With a trusted key, only that key counts; the bundle's own key is then merely compared.
    let Some(key) = trusted_key.or(bundle_key) else {
        return;
    };
    if let (Some(signature), Some(manifest)) = (signature, manifest_bytes)
        && key.verify_strict(manifest, &signature).is_err()
    {
        problems.push(BundleProblem::SignatureInvalid {
            key: hex::encode(key.as_bytes()),
        });
    }
}

fn check_files(contents: &ArchiveContents, manifest: &Manifest, problems: &mut Vec<BundleProblem>) {
    let mut listed = BTreeSet::new();
    for file in &manifest.files {
        if !listed.insert(file.path.as_str()) {
            problems.push(BundleProblem::ManifestMalformed {
                reason: format!("{} is listed more than once", file.path),
            });
            continue;
        }
        match contents.files.get(&file.path) {
            None => problems.push(BundleProblem::MissingFile {
                path: file.path.clone(),
            }),
            Some(actual) if actual.sha256 != file.sha256 || actual.size != file.size => {
                problems.push(BundleProblem::FileChanged {
                    path: file.path.clone(),
                    expected_sha256: file.sha256,
                    expected_size: file.size,
                    actual_sha256: actual.sha256,
                    actual_size: actual.size,
                });
            }
            Some(_) => {}
        }
    }
    for required in [PUBLIC_KEY_PATH, CUSTODY_PATH, JOURNAL_PATH] {
        if !listed.contains(required) && !contents.files.contains_key(required) {
            problems.push(BundleProblem::MissingFile {
                path: required.to_owned(),
            });
        }
    }
    for (path, digests) in &contents.files {
        if path == MANIFEST_PATH || path == SIGNATURE_PATH {
            continue;
        }
        if !listed.contains(path.as_str()) {
            problems.push(BundleProblem::ExtraFile { path: path.clone() });
        }
        if let Some(name) = path.strip_prefix(OBJECTS_PREFIX) {
            match Sha256Digest::from_hex(name) {
                Ok(expected) if expected == digests.sha256 => {}
                Ok(_) => problems.push(BundleProblem::ObjectNameMismatch {
                    path: path.clone(),
                    actual_sha256: digests.sha256,
                }),
                Err(_) => problems.push(BundleProblem::BadObjectName { path: path.clone() }),
            }
        }
    }
}

fn check_items(contents: &ArchiveContents, manifest: &Manifest, problems: &mut Vec<BundleProblem>) {
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for item in &manifest.items {
        if item.incident != manifest.incident {
            problems.push(BundleProblem::ItemOfAnotherIncident {
                sha256: item.sha256,
                item_incident: item.incident.to_string(),
                bundle_incident: manifest.incident.to_string(),
            });
        }
        let path = object_path(&item.sha256);
        if !listed.contains(path.as_str()) {
            problems.push(BundleProblem::ItemWithoutObject { sha256: item.sha256 });
        }
        // A changed object is already reported against its file; these checks catch a
        // manifest whose item record disagrees with the content it names.
        let Some(actual) = contents.files.get(&path) else {
            continue;
        };
        if actual.sha256 != item.sha256 {
            continue;
        }
        let mismatches = [
            ("sha1", item.sha1.to_hex(), actual.sha1.to_hex()),
            ("md5", item.md5.to_hex(), actual.md5.to_hex()),
            ("size", item.size.to_string(), actual.size.to_string()),
        ];
        for (algorithm, recorded, found) in mismatches {
            if recorded != found {
                problems.push(BundleProblem::ItemDigestMismatch {
                    path: path.clone(),
                    algorithm: algorithm.to_owned(),
                    recorded,
                    actual: found,
                });
            }
        }
    }
}

/// Reports at most this many malformed custody lines; the rest add nothing a person can use.
const MAX_REPORTED_LINES: usize = 10;

fn check_custody(contents: &ArchiveContents, problems: &mut Vec<BundleProblem>) {
    let Some(custody) = contents.metadata.get(CUSTODY_PATH) else {
        return;
    };
    let malformed = custody
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .filter_map(|(index, line)| {
            serde_json::from_slice::<CustodyEntry>(line)
                .err()
                .map(|err| BundleProblem::MalformedLine {
                    path: CUSTODY_PATH.to_owned(),
                    line: index + 1,
                    reason: err.to_string(),
                })
        })
        .take(MAX_REPORTED_LINES);
    problems.extend(malformed);
}

fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, String> {
    let decoded = hex::decode(exact_line(bytes)?).map_err(|err| err.to_string())?;
    let array: [u8; 32] = decoded.try_into().map_err(|_| "expected 64 hex digits".to_owned())?;
    VerifyingKey::from_bytes(&array).map_err(|err| err.to_string())
}

fn parse_signature(bytes: &[u8]) -> Result<Signature, String> {
    let decoded = hex::decode(exact_line(bytes)?).map_err(|err| err.to_string())?;
    let array: [u8; 64] = decoded.try_into().map_err(|_| "expected 128 hex digits".to_owned())?;
    Ok(Signature::from_bytes(&array))
}

/// The one line of a key or signature file, without its final newline. Nothing else is
/// tolerated, so that any change to the file is reported rather than trimmed away.
fn exact_line(bytes: &[u8]) -> Result<&[u8], String> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if line
        .iter()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
    {
        Ok(line)
    } else {
        Err("expected one line of lowercase hex digits".to_owned())
    }
}
