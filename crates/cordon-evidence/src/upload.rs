//! Resumable uploads: a multi-gigabyte image sent in pieces over an unreliable network, that
//! survives a dropped connection or a server restart and becomes evidence only when finished.
//!
//! The protocol is offset-based, like HTTP's `Content-Range` or tus: the client asks how many
//! bytes arrived ([`ResumableUploads::upload_status`]) and sends the rest from there. Nothing
//! is hashed until [`ResumableUploads::finish_upload`], which reads the whole upload once and
//! links it into the store exactly as [`EvidenceStore::put`] would, so no hasher state has to
//! survive a restart.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use cordon_domain::Timestamp;
use serde::{Deserialize, Serialize};

use crate::digest::{MultiHasher, Sha256Digest};
use crate::error::EvidenceError;
use crate::store::{CHUNK_BYTES, EvidenceStore, Ingested, LocalDirStore, UPLOADS_DIR};

/// A store that accepts evidence in resumable pieces.
///
/// One piece at a time per upload: the caller serializes appends to the same upload (the
/// offset check catches a client that resends, not two writers racing).
pub trait ResumableUploads: EvidenceStore {
    /// Starts an empty upload. `label` is the caller's, kept with the upload and returned by
    /// [`ResumableUploads::upload_status`], e.g. the incident it is for, so that the caller can
    /// refuse a piece sent to the right id through the wrong door.
    fn begin_upload(&self, label: &str) -> Result<UploadId, EvidenceError>;

    /// Appends `content` to the upload. `offset` must equal the bytes received so far, so a
    /// piece sent twice is refused rather than stored twice. Returns the bytes received after
    /// this piece. If `content` fails part-way, what arrived is kept and
    /// [`EvidenceError::UploadInterrupted`] says where to resume.
    fn append_upload<R: Read>(&self, upload: &UploadId, offset: u64, content: R) -> Result<u64, EvidenceError>;

    fn upload_status(&self, upload: &UploadId) -> Result<UploadStatus, EvidenceError>;

    /// Hashes the complete upload and stores it as evidence. When the client declared the
    /// SHA-256 it computed, a different result is refused and nothing is stored.
    fn finish_upload(
        &self,
        upload: &UploadId,
        declared_sha256: Option<&Sha256Digest>,
    ) -> Result<Ingested, EvidenceError>;

    /// Throws an unfinished upload away. It was never evidence, so this deletes nothing that was
    /// stored.
    fn abandon_upload(&self, upload: &UploadId) -> Result<(), EvidenceError>;

    /// Every unfinished upload, for the caller to abandon the stale ones.
    fn list_uploads(&self) -> Result<Vec<UploadStatus>, EvidenceError>;
}

/// An upload's identifier: 128 random bits as 32 lowercase hex digits. It names a file, so it
/// is checked whenever it comes from outside.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct UploadId(String);

impl UploadId {
    pub fn generate() -> Result<UploadId, EvidenceError> {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).map_err(|err| EvidenceError::Randomness {
            reason: err.to_string(),
        })?;
        Ok(UploadId(hex::encode(bytes)))
    }

    pub fn parse(text: &str) -> Result<UploadId, EvidenceError> {
        let valid = text.len() == 32
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        if valid {
            Ok(UploadId(text.to_owned()))
        } else {
            Err(EvidenceError::InvalidUploadId {
                text: text.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadId({})", self.0)
    }
}

impl From<UploadId> for String {
    fn from(upload: UploadId) -> String {
        upload.0
    }
}

impl TryFrom<String> for UploadId {
    type Error = EvidenceError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        UploadId::parse(&text)
    }
}

/// How far an upload has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub upload: UploadId,
    /// The label given when the upload began.
    pub label: String,
    pub received: u64,
    /// When a piece last arrived, from the file system; compare it with `now` to find stale
    /// uploads.
    pub last_written_at: Timestamp,
}

const UPLOAD_EXTENSION: &str = "upload";
const LABEL_EXTENSION: &str = "label";

impl LocalDirStore {
    fn upload_path(&self, upload: &UploadId) -> PathBuf {
        self.root()
            .join(UPLOADS_DIR)
            .join(format!("{upload}.{UPLOAD_EXTENSION}"))
    }

    fn label_path(&self, upload: &UploadId) -> PathBuf {
        self.root()
            .join(UPLOADS_DIR)
            .join(format!("{upload}.{LABEL_EXTENSION}"))
    }

    fn open_upload(&self, upload: &UploadId, options: &OpenOptions) -> Result<File, EvidenceError> {
        let path = self.upload_path(upload);
        options.open(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => EvidenceError::UnknownUpload {
                upload: upload.to_string(),
            },
            _ => EvidenceError::Io {
                action: "open upload",
                path,
                source,
            },
        })
    }

    fn status_of(&self, upload: &UploadId, file: &File) -> Result<UploadStatus, EvidenceError> {
        let metadata = file.metadata().map_err(|source| EvidenceError::Io {
            action: "read metadata of",
            path: self.upload_path(upload),
            source,
        })?;
        // An upload from before labels existed has none: an empty label matches no caller.
        let label = fs::read_to_string(self.label_path(upload)).unwrap_or_default();
        // A modification time before the epoch or unreadable is reported as the epoch, which
        // makes the upload look stale: the safe side for a clean-up.
        let millis = metadata
            .modified()
            .ok()
            .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
            .and_then(|since| i64::try_from(since.as_millis()).ok())
            .unwrap_or(0);
        Ok(UploadStatus {
            upload: upload.clone(),
            label,
            received: metadata.len(),
            last_written_at: Timestamp::from_unix_millis(millis),
        })
    }
}

impl ResumableUploads for LocalDirStore {
    fn begin_upload(&self, label: &str) -> Result<UploadId, EvidenceError> {
        let upload = UploadId::generate()?;
        // The label is written first: an upload file never exists without its label.
        let label_path = self.label_path(&upload);
        let mut label_file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&label_path)
            .map_err(|source| EvidenceError::Io {
                action: "create upload label",
                path: label_path.clone(),
                source,
            })?;
        label_file
            .write_all(label.as_bytes())
            .and_then(|()| label_file.sync_data())
            .map_err(|source| EvidenceError::Io {
                action: "write upload label",
                path: label_path,
                source,
            })?;
        let path = self.upload_path(&upload);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| EvidenceError::Io {
                action: "create upload",
                path,
                source,
            })?;
        Ok(upload)
    }

    fn append_upload<R: Read>(&self, upload: &UploadId, offset: u64, mut content: R) -> Result<u64, EvidenceError> {
        let path = self.upload_path(upload);
        let mut file = self.open_upload(upload, OpenOptions::new().append(true))?;
        let mut received = self.status_of(upload, &file)?.received;
        if offset != received {
            return Err(EvidenceError::UploadOffsetMismatch {
                upload: upload.to_string(),
                received,
                offset,
            });
        }
        let limit = self.config().max_object_bytes;
        let write_error = |source| EvidenceError::Io {
            action: "write upload",
            path: path.clone(),
            source,
        };
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            let read = match content.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    // Keep what arrived: that is the point of a resumable upload.
                    file.sync_data().map_err(write_error)?;
                    return Err(EvidenceError::UploadInterrupted {
                        upload: upload.to_string(),
                        received,
                        source,
                    });
                }
            };
            let chunk = buffer.get(..read).unwrap_or_default();
            if received.saturating_add(chunk.len() as u64) > limit {
                drop(file);
                self.abandon_upload(upload)?;
                return Err(EvidenceError::TooLarge { limit_bytes: limit });
            }
            file.write_all(chunk).map_err(write_error)?;
            received += chunk.len() as u64;
        }
        file.sync_data().map_err(write_error)?;
        Ok(received)
    }

    fn upload_status(&self, upload: &UploadId) -> Result<UploadStatus, EvidenceError> {
        let file = self.open_upload(upload, OpenOptions::new().read(true))?;
        self.status_of(upload, &file)
    }

    fn finish_upload(
        &self,
        upload: &UploadId,
        declared_sha256: Option<&Sha256Digest>,
    ) -> Result<Ingested, EvidenceError> {
        let path = self.upload_path(upload);
        let mut file = self.open_upload(upload, OpenOptions::new().read(true))?;
        let mut hasher = MultiHasher::new();
        let mut buffer = vec![0; CHUNK_BYTES];
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => hasher.update(buffer.get(..read).unwrap_or_default()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(EvidenceError::Io {
                        action: "read upload",
                        path,
                        source,
                    });
                }
            }
        }
        let digests = hasher.finish();
        if let Some(declared) = declared_sha256
            && *declared != digests.sha256
        {
            return Err(EvidenceError::UploadDigestMismatch {
                upload: upload.to_string(),
                declared: *declared,
                actual: digests.sha256,
            });
        }
        let newly_stored = self.link_into_place(file, &path, &digests.sha256)?;
        // The object is in place; an upload file that cannot be removed now is harmless (a
        // second finish finds the object already stored) and shows up in `list_uploads`.
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(self.label_path(upload));
        Ok(Ingested { digests, newly_stored })
    }

    fn abandon_upload(&self, upload: &UploadId) -> Result<(), EvidenceError> {
        let path = self.upload_path(upload);
        // The content goes first: a label without its upload is never listed.
        fs::remove_file(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => EvidenceError::UnknownUpload {
                upload: upload.to_string(),
            },
            _ => EvidenceError::Io {
                action: "remove upload",
                path,
                source,
            },
        })?;
        let _ = fs::remove_file(self.label_path(upload));
        Ok(())
    }

    fn list_uploads(&self) -> Result<Vec<UploadStatus>, EvidenceError> {
        let dir = self.root().join(UPLOADS_DIR);
        let entries = fs::read_dir(&dir).map_err(|source| EvidenceError::Io {
            action: "list directory",
            path: dir.clone(),
            source,
        })?;
        let mut uploads = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != UPLOAD_EXTENSION) {
                continue;
            }
            let Some(upload) = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .and_then(|stem| UploadId::parse(stem).ok())
            else {
                continue;
            };
            // An upload finished or abandoned meanwhile is simply not listed.
            match self.upload_status(&upload) {
                Ok(status) => uploads.push(status),
                Err(EvidenceError::UnknownUpload { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        uploads.sort_by(|a, b| a.upload.cmp(&b.upload));
        Ok(uploads)
    }
}
