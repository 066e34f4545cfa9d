//! Content-addressed, write-once evidence storage: the [`EvidenceStore`] trait, the
//! [`LocalDirStore`] backend, and [`VerifiedReader`], the only way content comes back out.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digests, MultiHasher, Sha256Digest};
use crate::error::EvidenceError;
use crate::item::EvidenceItem;

/// Evidence is read and hashed in chunks of this size, so memory use does not grow with the
/// size of the evidence.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// Storage for evidence content, addressed by SHA-256.
///
/// There is deliberately no way to delete or replace an object: retention and legal hold are
/// states the caller records (an export shows them as [`crate::RetentionState`]), not
/// operations on storage.
pub trait EvidenceStore {
    /// The raw reader a stored object is read through, before verification.
    type Object: Read;

    /// Streams `content` into the store and returns its digests. Storing content that is
    /// already there stores nothing new and returns the same digests.
    fn put<R: Read>(&self, content: R) -> Result<Ingested, EvidenceError>;

    /// Opens an object for reading. The reader re-hashes the content as it streams out and
    /// fails at the end of the content if it no longer matches its address.
    fn open_verified(&self, sha256: &Sha256Digest) -> Result<VerifiedReader<Self::Object>, EvidenceError>;

    /// Every object in the store, ordered by address.
    fn list(&self) -> Result<Vec<StoredObject>, EvidenceError>;

    /// Re-hashes an object, as an audit does. A changed object is
    /// [`EvidenceError::HashMismatch`], never a success.
    fn verify(&self, sha256: &Sha256Digest) -> Result<Digests, EvidenceError> {
        let mut reader = self.open_verified(sha256)?;
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(reader.into_error(err)),
            }
        }
        match *reader.verdict() {
            Verdict::Intact(digests) => Ok(digests),
            Verdict::Mismatch { actual } => Err(EvidenceError::HashMismatch {
                expected: *sha256,
                actual: actual.sha256,
            }),
            // A read returned 0, so this cannot happen; an audit must still never pass by default.
            Verdict::Pending => Err(EvidenceError::ObjectRead {
                sha256: *sha256,
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "the content ended without a verdict"),
            }),
        }
    }
}

/// Re-hashes an item's object and checks it against everything the item records: the SHA-256
/// (its address), SHA-1, MD5 and size. This is the per-item check of an audit.
pub fn verify_item<S: EvidenceStore>(store: &S, item: &EvidenceItem) -> Result<Digests, EvidenceError> {
    let digests = store.verify(&item.sha256)?;
    item.check_digests(&digests)?;
    Ok(digests)
}

/// The result of [`EvidenceStore::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub digests: Digests,
    /// False when the same content was already stored; the stored object was left untouched.
    pub newly_stored: bool,
}

/// An object as [`EvidenceStore::list`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredObject {
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Settings of a [`LocalDirStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Evidence larger than this is refused with [`EvidenceError::TooLarge`].
    pub max_object_bytes: u64,
}

impl Default for StoreConfig {
    /// Accepts up to 1 TiB, enough for the disk images of most servers.
    fn default() -> Self {
        StoreConfig {
            max_object_bytes: 1024 * 1024 * 1024 * 1024,
        }
    }
}

/// A store in a local directory.
///
/// Layout: `objects/ab/cdef…` holds the object whose SHA-256 is `abcdef…`, read-only (0444).
/// `incoming/` holds ingests in progress as `*.partial` files. An object appears under
/// `objects/` only once its content is complete and synced, by a hard link that cannot replace
/// an existing file; a partial file is never mistaken for evidence, and [`LocalDirStore::open`]
/// removes the ones an interrupted process left behind. Both directories sit under one root so
/// the link never crosses file systems.
///
/// `uploads/` holds resumable uploads ([`crate::ResumableUploads`]); they survive a restart on
/// purpose and become objects the same way when finished.
///
/// **One process owns a store directory**: opening it removes every partial file, including
/// one another process might be writing.
#[derive(Debug)]
pub struct LocalDirStore {
    root: PathBuf,
    config: StoreConfig,
    abandoned_partials_removed: usize,
}

impl LocalDirStore {
    /// Opens the store at `root`, creating it if needed, and removes partial files left by
    /// interrupted ingests.
    pub fn open(root: impl Into<PathBuf>, config: StoreConfig) -> Result<Self, EvidenceError> {
        let root = root.into();
        for dir in [root.join(OBJECTS_DIR), root.join(INCOMING_DIR), root.join(UPLOADS_DIR)] {
            fs::create_dir_all(&dir).map_err(|source| EvidenceError::Io {
                action: "create directory",
                path: dir.clone(),
                source,
            })?;
        }
        let mut store = LocalDirStore {
            root,
            config,
            abandoned_partials_removed: 0,
        };
        store.abandoned_partials_removed = store.remove_abandoned_partials()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> StoreConfig {
        self.config
    }

    /// How many partial files of interrupted ingests [`LocalDirStore::open`] removed, for the
    /// caller to log.
    pub fn abandoned_partials_removed(&self) -> usize {
        self.abandoned_partials_removed
    }

    /// Where the object with this address lives (or would live).
    pub fn object_path(&self, sha256: &Sha256Digest) -> PathBuf {
        let hex = sha256.to_hex();
        let (fan_out, rest) = hex.split_at(2);
        self.root.join(OBJECTS_DIR).join(fan_out).join(rest)
    }

    fn remove_abandoned_partials(&self) -> Result<usize, EvidenceError> {
        let incoming = self.root.join(INCOMING_DIR);
        let mut removed = 0;
        for entry in read_dir(&incoming)? {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == PARTIAL_EXTENSION) {
                fs::remove_file(&path).map_err(|source| EvidenceError::Io {
                    action: "remove abandoned partial file",
                    path: path.clone(),
                    source,
                })?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Makes a complete file an object: syncs it, makes it read-only and hard-links it to the
    /// object's path. Returns false when the object already existed, which is left untouched.
    /// The caller removes the source file afterwards.
    pub(crate) fn link_into_place(
        &self,
        file: File,
        source_path: &Path,
        sha256: &Sha256Digest,
    ) -> Result<bool, EvidenceError> {
        let io_error = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| EvidenceError::Io { action, path, source }
        };
        // The content must be on disk before its name says it is complete.
        file.sync_all().map_err(io_error("sync", source_path))?;
        file.set_permissions(Permissions::from_mode(0o444))
            .map_err(io_error("make read-only", source_path))?;
        drop(file);

        let object_path = self.object_path(sha256);
        let fan_out_dir = object_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.join(OBJECTS_DIR));
        fs::create_dir_all(&fan_out_dir).map_err(io_error("create directory", &fan_out_dir))?;

        // A hard link, unlike a rename, never replaces an existing file: the first copy of
        // some content is the one that stays.
        let newly_stored = match fs::hard_link(source_path, &object_path) {
            Ok(()) => true,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => false,
            Err(source) => {
                return Err(EvidenceError::Io {
                    action: "link object into place",
                    path: object_path,
                    source,
                });
            }
        };
        if newly_stored {
            // Both directories: the fan-out directory may itself be new.
            sync_dir(&fan_out_dir)?;
            sync_dir(&self.root.join(OBJECTS_DIR))?;
        }
        Ok(newly_stored)
    }

    /// Creates a new, uniquely named partial file. The name holds the process id and a
    /// per-process counter; `create_new` makes a collision an error rather than a shared file.
    fn create_partial(&self) -> Result<(File, PartialFile), EvidenceError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let number = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("ingest-{}-{number}.{PARTIAL_EXTENSION}", std::process::id());
            let path = self.root.join(INCOMING_DIR).join(name);
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(file) => return Ok((file, PartialFile { path })),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(EvidenceError::Io {
                        action: "create partial file",
                        path,
                        source,
                    });
                }
            }
        }
    }
}

impl EvidenceStore for LocalDirStore {
    type Object = File;

    fn put<R: Read>(&self, mut content: R) -> Result<Ingested, EvidenceError> {
        let (mut file, partial) = self.create_partial()?;
        let partial_path = partial.path().to_path_buf();
        let io_error = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| EvidenceError::Io { action, path, source }
        };

        let mut hasher = MultiHasher::new();
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            let read = match content.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(EvidenceError::SourceRead {
                        bytes_read: hasher.size(),
                        source,
                    });
                }
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            if hasher.size().saturating_add(chunk.len() as u64) > self.config.max_object_bytes {
                return Err(EvidenceError::TooLarge {
                    limit_bytes: self.config.max_object_bytes,
                });
            }
            hasher.update(chunk);
            file.write_all(chunk)
                .map_err(io_error("write partial file", &partial_path))?;
        }
        let digests = hasher.finish();
        let newly_stored = self.link_into_place(file, &partial_path, &digests.sha256)?;
        // The object is complete either way; if the partial file cannot be removed now, the
        // next open of the store removes it.
        drop(partial);
        Ok(Ingested { digests, newly_stored })
    }

    fn open_verified(&self, sha256: &Sha256Digest) -> Result<VerifiedReader<File>, EvidenceError> {
        let path = self.object_path(sha256);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(EvidenceError::NotFound { sha256: *sha256 });
            }
            Err(source) => {
                return Err(EvidenceError::Io {
                    action: "open object",
                    path,
                    source,
                });
            }
        };
        let len = file
            .metadata()
            .map_err(|source| EvidenceError::Io {
                action: "read metadata of",
                path,
                source,
            })?
            .len();
        Ok(VerifiedReader::new(file, *sha256, len))
    }

    fn list(&self) -> Result<Vec<StoredObject>, EvidenceError> {
        let mut objects = Vec::new();
        for fan_out in read_dir(&self.root.join(OBJECTS_DIR))? {
            let Some(prefix) = fan_out.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if prefix.len() != 2 || !fan_out.path().is_dir() {
                continue;
            }
            for object in read_dir(&fan_out.path())? {
                let Some(rest) = object.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                // Anything that is not named like an object is not one.
                let Ok(sha256) = Sha256Digest::from_hex(&format!("{prefix}{rest}")) else {
                    continue;
                };
                let size = object
                    .metadata()
                    .map_err(|source| EvidenceError::Io {
                        action: "read metadata of",
                        path: object.path(),
                        source,
                    })?
                    .len();
                objects.push(StoredObject { sha256, size });
            }
        }
        objects.sort();
        Ok(objects)
    }
}

/// Reads a stored object while re-hashing it. When the content ends, the reader compares the
/// SHA-256 with the object's address: on a match it reports the end of the content; on a
/// mismatch the read fails with an [`io::ErrorKind::InvalidData`] error wrapping
/// [`EvidenceError::HashMismatch`], and keeps failing.
///
/// The bytes before the end have already been handed out by then, so a caller that forwards
/// them (a download) must treat that error as an alarm and make the transfer fail visibly,
/// never end it as if it had succeeded. A caller that stops reading early gets no verdict
/// ([`Verdict::Pending`]).
#[derive(Debug)]
pub struct VerifiedReader<R> {
    inner: R,
    expected: Sha256Digest,
    len: u64,
    hasher: MultiHasher,
    verdict: Verdict,
}

/// What a [`VerifiedReader`] has found so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The end of the content has not been read yet.
    Pending,
    /// The content was read to its end and hashes to its address.
    Intact(Digests),
    /// The content was read to its end and hashes to something else.
    Mismatch { actual: Digests },
}

impl Verdict {
    /// The SHA-256 the content was found to have, once read to its end.
    pub fn actual_sha256(&self) -> Option<Sha256Digest> {
        match self {
            Verdict::Pending => None,
            Verdict::Intact(digests) | Verdict::Mismatch { actual: digests } => Some(digests.sha256),
        }
    }

    /// The verdict as a custody record states it.
    pub fn outcome(&self) -> crate::custody::VerificationOutcome {
        use crate::custody::VerificationOutcome;
        match self {
            Verdict::Pending => VerificationOutcome::Incomplete,
            Verdict::Intact(_) => VerificationOutcome::Intact,
            Verdict::Mismatch { actual } => VerificationOutcome::Mismatch { actual: actual.sha256 },
        }
    }
}

impl<R: Read> VerifiedReader<R> {
    /// Wraps `inner`, whose content must hash to `expected`; `len` is its length as stored.
    /// Stores call this; other backends can use it too.
    pub fn new(inner: R, expected: Sha256Digest, len: u64) -> Self {
        VerifiedReader {
            inner,
            expected,
            len,
            hasher: MultiHasher::new(),
            verdict: Verdict::Pending,
        }
    }

    /// The address the content must hash to.
    pub fn expected(&self) -> Sha256Digest {
        self.expected
    }

    /// The stored length of the content, known before it is read.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Turns an error from [`Read::read`] back into the [`EvidenceError`] it carries: a hash
    /// mismatch, or an IO error on this object.
    pub fn into_error(self, err: io::Error) -> EvidenceError {
        if let Verdict::Mismatch { actual } = self.verdict {
            return EvidenceError::HashMismatch {
                expected: self.expected,
                actual: actual.sha256,
            };
        }
        EvidenceError::ObjectRead {
            sha256: self.expected,
            source: err,
        }
    }

    fn mismatch_error(&self, actual: Sha256Digest) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            EvidenceError::HashMismatch {
                expected: self.expected,
                actual,
            },
        )
    }
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.verdict {
            Verdict::Intact(_) => return Ok(0),
            Verdict::Mismatch { actual } => return Err(self.mismatch_error(actual.sha256)),
            Verdict::Pending => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let read = self.inner.read(buf)?;
        if read > 0 {
            self.hasher.update(buf.get(..read).unwrap_or_default());
            return Ok(read);
        }
        let digests = std::mem::take(&mut self.hasher).finish();
        if digests.sha256 == self.expected {
            self.verdict = Verdict::Intact(digests);
            Ok(0)
        } else {
            self.verdict = Verdict::Mismatch { actual: digests };
            Err(self.mismatch_error(digests.sha256))
        }
    }
}

const OBJECTS_DIR: &str = "objects";
const INCOMING_DIR: &str = "incoming";
pub(crate) const UPLOADS_DIR: &str = "uploads";
const PARTIAL_EXTENSION: &str = "partial";

/// Removes its file when dropped: an ingest that fails or panics half-way leaves no partial
/// file behind, and one that succeeds drops its partial file once the object is linked (a
/// crash leaves one that [`LocalDirStore::open`] removes).
struct PartialFile {
    path: PathBuf,
}

impl PartialFile {
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // Best effort: if this fails, the next open of the store removes the file.
        let _ = fs::remove_file(&self.path);
    }
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, EvidenceError> {
    let error = |source| EvidenceError::Io {
        action: "list directory",
        path: dir.to_path_buf(),
        source,
    };
    fs::read_dir(dir)
        .map_err(error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)
}

/// Makes a directory's entries durable, so a linked object survives a crash.
fn sync_dir(dir: &Path) -> Result<(), EvidenceError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| EvidenceError::Io {
            action: "sync directory",
            path: dir.to_path_buf(),
            source,
        })
}
