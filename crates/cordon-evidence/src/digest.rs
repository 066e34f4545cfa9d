//! Digests of evidence content: SHA-256 (the content address), SHA-1 and MD5 (because forensic
//! tools and courts still quote them), all computed in one pass.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::error::EvidenceError;

/// A fixed-size digest, shown and serialized as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct HexDigest<const N: usize>(pub [u8; N]);

/// A SHA-256 digest. It is an evidence object's address in the store.
pub type Sha256Digest = HexDigest<32>;
/// A SHA-1 digest, recorded for tools and documents that still quote it.
pub type Sha1Digest = HexDigest<20>;
/// An MD5 digest, recorded for tools and documents that still quote it.
pub type Md5Digest = HexDigest<16>;

impl<const N: usize> HexDigest<N> {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly `2 * N` hex digits, upper or lower case.
    pub fn from_hex(text: &str) -> Result<Self, EvidenceError> {
        let invalid = || EvidenceError::InvalidDigest {
            text: text.chars().take(80).collect(),
            expected_hex_digits: N * 2,
        };
        let bytes = hex::decode(text).map_err(|_| invalid())?;
        let array: [u8; N] = bytes.try_into().map_err(|_| invalid())?;
        Ok(HexDigest(array))
    }
}

impl<const N: usize> fmt::Display for HexDigest<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<const N: usize> fmt::Debug for HexDigest<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl<const N: usize> FromStr for HexDigest<N> {
    type Err = EvidenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        HexDigest::from_hex(text)
    }
}

impl<const N: usize> From<HexDigest<N>> for String {
    fn from(digest: HexDigest<N>) -> String {
        digest.to_hex()
    }
}

impl<const N: usize> TryFrom<String> for HexDigest<N> {
    type Error = EvidenceError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        HexDigest::from_hex(&text)
    }
}

impl From<Sha256Digest> for cordon_domain::Hash {
    fn from(digest: Sha256Digest) -> cordon_domain::Hash {
        cordon_domain::Hash(digest.0)
    }
}

/// The three digests and the length of one piece of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digests {
    pub sha256: Sha256Digest,
    pub sha1: Sha1Digest,
    pub md5: Md5Digest,
    pub size: u64,
}

impl Digests {
    /// Digests a byte slice. Handy for small content and for tests; evidence streams through
    /// [`MultiHasher`] instead.
    pub fn of(bytes: &[u8]) -> Digests {
        let mut hasher = MultiHasher::new();
        hasher.update(bytes);
        hasher.finish()
    }
}

/// Chunks at least this large are hashed on two threads.
const PARALLEL_CHUNK_BYTES: usize = 256 * 1024;

/// Computes SHA-256, SHA-1 and MD5 over the same bytes as they stream past, and counts them.
#[derive(Clone, Default)]
pub struct MultiHasher {
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5,
    size: u64,
}

impl MultiHasher {
    pub fn new() -> MultiHasher {
        MultiHasher::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if bytes.len() >= PARALLEL_CHUNK_BYTES {
            // MD5 is the slowest of the three and cannot use the CPU's SHA instructions, so it
            // runs beside the other two; starting a thread costs far less than hashing a chunk.
            let md5 = &mut self.md5;
            std::thread::scope(|scope| {
                scope.spawn(|| md5.update(bytes));
                self.sha256.update(bytes);
                self.sha1.update(bytes);
            });
        } else {
            self.sha256.update(bytes);
            self.sha1.update(bytes);
            self.md5.update(bytes);
        }
        // A usize always fits in a u64 on the platforms Cordon supports.
        self.size += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha256: HexDigest(self.sha256.finalize().into()),
            sha1: HexDigest(self.sha1.finalize().into()),
            md5: HexDigest(self.md5.finalize().into()),
            size: self.size,
        }
    }
}

impl fmt::Debug for MultiHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiHasher")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a byte slice.
pub fn sha256_of(bytes: &[u8]) -> Sha256Digest {
    HexDigest(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_the_empty_input_match_the_published_values() {
        let digests = Digests::of(b"");
        assert_eq!(
            digests.sha256.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(digests.sha1.to_hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(digests.md5.to_hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digests.size, 0);
    }

    #[test]
    fn large_chunks_hashed_in_parallel_give_the_same_digests_as_small_ones() {
        let content: Vec<u8> = (0..3 * PARALLEL_CHUNK_BYTES + 17).map(|i| (i % 253) as u8).collect();
        let mut whole = MultiHasher::new();
        whole.update(&content);
        let mut pieces = MultiHasher::new();
        for piece in content.chunks(1000) {
            pieces.update(piece);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }

    #[test]
    fn hex_round_trips_and_rejects_the_wrong_length() {
        let digest = sha256_of(b"abc");
        assert_eq!(Sha256Digest::from_hex(&digest.to_hex()).unwrap(), digest);
        assert_eq!(Sha256Digest::from_hex(&digest.to_hex().to_uppercase()).unwrap(), digest);
        let err = Sha256Digest::from_hex("abcd").unwrap_err();
        assert_eq!(err.to_string(), "invalid digest \"abcd\": expected 64 hex digits");
    }
}
