//! Secrets and opaque tokens.
//!
//! A token is shown to its owner once, as `cdn_<kind>_<random>`; the server stores only its
//! SHA-256 digest, so a stolen database yields no usable token. Looking a token up is a lookup
//! by digest, which needs no constant-time comparison: the attacker does not know the digest of
//! a token they do not have.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::{NoRandomness, random_bytes};

/// A secret value whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call only where it must leave the process: a response shown once to
    /// its owner, a password check.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a token is for; part of its visible prefix so a leaked token is recognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Api,
    Setup,
    Share,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "cdn_s_",
            TokenKind::Api => "cdn_t_",
            TokenKind::Setup => "cdn_setup_",
            TokenKind::Share => "cdn_share_",
        }
    }
}

/// Mints a new token: 32 random bytes, URL-safe. Returns the token (to show once) and the
/// digest to store.
pub fn mint(kind: TokenKind) -> Result<(Secret, String), NoRandomness> {
    let bytes: [u8; 32] = random_bytes()?;
    let token = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&token);
    Ok((Secret(token), digest))
}

/// Mints a token that names what it is for, e.g. the incident a share link belongs to:
/// `<prefix><scope>.<random>`, so that a lookup can go straight to its scope. The scope is
/// not secret; the random part is. Returns the token and the digest to store.
pub fn mint_scoped(kind: TokenKind, scope: &str) -> Result<(Secret, String), NoRandomness> {
    let bytes: [u8; 32] = random_bytes()?;
    let token = format!("{}{scope}.{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&token);
    Ok((Secret(token), digest))
}

/// The scope of a token minted by [`mint_scoped`], if it has that shape.
pub fn scope_of(token: &str, kind: TokenKind) -> Option<&str> {
    let (scope, random) = token.strip_prefix(kind.prefix())?.split_once('.')?;
    (!scope.is_empty() && random.len() >= 32 && token.len() < 200).then_some(scope)
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` looks like one of ours of this kind, before any database work.
pub fn has_kind(token: &str, kind: TokenKind) -> bool {
    token.starts_with(kind.prefix()) && token.len() < 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
    }

    #[test]
    fn minted_tokens_are_unique_prefixed_and_stored_as_digests() {
        let (first, first_digest) = mint(TokenKind::Api).unwrap();
        let (second, _) = mint(TokenKind::Api).unwrap();
        assert_ne!(first, second);
        assert!(has_kind(first.expose(), TokenKind::Api));
        assert!(!has_kind(first.expose(), TokenKind::Session));
        assert_eq!(digest(first.expose()), first_digest);
        assert!(!first_digest.contains(first.expose()));
    }

    #[test]
    fn scoped_tokens_carry_their_scope_in_the_clear() {
        let (token, stored) = mint_scoped(TokenKind::Share, "inc-42").unwrap();
        assert!(token.expose().starts_with("cdn_share_inc-42."));
        assert_eq!(scope_of(token.expose(), TokenKind::Share), Some("inc-42"));
        assert_eq!(scope_of(token.expose(), TokenKind::Api), None);
        assert_eq!(scope_of("cdn_share_inc-42.short", TokenKind::Share), None);
        assert_eq!(digest(token.expose()), stored);
    }
}
