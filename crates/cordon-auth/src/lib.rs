//! Authentication primitives for the Cordon server.
//!
//! Everything here is synchronous and deterministic given its inputs (randomness comes from
//! the operating system only where a new secret is minted, and time is a parameter):
//!
//! - [`password`]: argon2id password hashes in PHC format.
//! - [`secret`]: secrets that never print, and opaque tokens (sessions, API tokens, setup and
//!   share links) of which the server keeps only a SHA-256 digest.
//! - [`csrf`]: CSRF tokens bound to a session by HMAC.
//! - [`totp`]: RFC 6238 time-based one-time passwords, with replay protection.
//! - [`throttle`]: login throttling per account and per address.

pub mod csrf;
pub mod password;
pub mod secret;
pub mod throttle;
pub mod totp;

/// The operating system's randomness failed; nothing secret can be minted.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available from the operating system")]
pub struct NoRandomness;

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], NoRandomness> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(bytes)
}
