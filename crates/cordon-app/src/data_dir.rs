//! The data directory: `cordon.db` (SQLite), `signing.key` (the ed25519 key that signs
//! checkpoints, readable by its owner only) and `checkpoint.json` (the witness: a copy of the
//! latest signed checkpoint kept outside the database, so that cutting checkpoints out of the
//! database is detected).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cordon_domain::{SignedCheckpoint, SigningKey};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create data directory {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid {what}: {problem}")]
    Invalid {
        path: PathBuf,
        what: &'static str,
        problem: String,
    },
    #[error("no randomness available from the operating system: {0}")]
    Random(getrandom::Error),
}

impl DataDir {
    /// Uses `root`, creating it (owner-only) if it does not exist.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        if !root.exists() {
            fs::create_dir_all(root).map_err(|source| DataDirError::Create {
                path: root.to_owned(),
                source,
            })?;
            restrict_to_owner(root, 0o700);
        }
        Ok(DataDir { root: root.to_owned() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database_path(&self) -> PathBuf {
        self.root.join("cordon.db")
    }

    pub fn key_path(&self) -> PathBuf {
        self.root.join("signing.key")
    }

    pub fn witness_path(&self) -> PathBuf {
        self.root.join("checkpoint.json")
    }

    /// The installation's signing key, generated on first use.
    pub fn signing_key(&self) -> Result<SigningKey, DataDirError> {
        let path = self.key_path();
        match fs::read_to_string(&path) {
            Ok(text) => parse_key(&path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(DataDirError::Random)?;
                let key = SigningKey::from_bytes(&seed);
                write_new_file(&path, format!("{}\n", hex::encode(seed)).as_bytes(), 0o600)?;
                tracing::info!(path = %path.display(), "generated a new checkpoint signing key");
                Ok(key)
            }
            Err(source) => Err(DataDirError::Read { path, source }),
        }
    }

    pub fn read_witness(&self) -> Result<Option<SignedCheckpoint>, DataDirError> {
        let path = self.witness_path();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| DataDirError::Invalid {
                    path,
                    what: "witness checkpoint",
                    problem: err.to_string(),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DataDirError::Read { path, source }),
        }
    }

    /// Replaces the witness atomically (write to a temporary file, then rename).
    pub fn write_witness(&self, checkpoint: &SignedCheckpoint) -> Result<(), DataDirError> {
        let path = self.witness_path();
        let temporary = self.root.join("checkpoint.json.tmp");
        let json = serde_json::to_vec_pretty(checkpoint).unwrap_or_default();
        let _ = fs::remove_file(&temporary);
        write_new_file(&temporary, &json, 0o644)?;
        fs::rename(&temporary, &path).map_err(|source| DataDirError::Write { path, source })
    }
}

fn parse_key(path: &Path, text: &str) -> Result<SigningKey, DataDirError> {
    let invalid = |problem: &str| DataDirError::Invalid {
        path: path.to_owned(),
        what: "signing key",
        problem: problem.to_owned(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| invalid("expected 64 hex digits"))?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| invalid("expected 64 hex digits"))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), DataDirError> {
    let write_error = |source| DataDirError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(contents).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

fn restrict_to_owner(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
