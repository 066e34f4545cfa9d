//! Signed, expiring acknowledge and resolve links: [`LinkSigner`] turns a [`LinkClaim`] into a
//! URL-safe token and back.
//!
//! A token is the unpadded base64url encoding of
//!
//! ```text
//! version (1 byte, 1) | action (1 byte: 1 acknowledge, 2 resolve) | expires_at (i64 unix ms, big endian)
//! | alert length (u32 BE) | alert (UTF-8) | person length (u32 BE) | person (UTF-8)
//! | HMAC-SHA256(key, "cordon-notify link v1\0" | everything before it) (32 bytes)
//! ```
//!
//! The claim is readable by whoever holds the link (it names an alert id and a person, never
//! alert text); the MAC makes it unforgeable and unalterable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cordon_domain::Timestamp;
use hmac::Mac as _;
use serde::{Deserialize, Serialize};

use crate::HmacSha256;

/// What following the link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Acknowledge,
    Resolve,
}

/// What a link token vouches for: `person` may take `action` on `alert` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaim {
    pub action: LinkAction,
    /// The alert's id, as the caller names it (a bundle's id works too).
    pub alert: String,
    /// Who the link was sent to; the action is recorded as theirs.
    pub person: String,
    /// The first instant at which the link no longer works.
    pub expires_at: Timestamp,
}

/// Why a link token was refused. Each case is distinct so the server can answer "this link
/// expired, sign in instead" without hinting at anything for forged links.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match: it was altered or signed with another key")]
    Tampered,
    #[error("the link expired at {}", expired_at.to_rfc3339())]
    Expired { expired_at: Timestamp },
}

/// Signs and verifies link tokens with one 32-byte key. Nodes that share the key accept each
/// other's links. `Debug` does not show the key.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"cordon-notify link v1\0";
const MAC_LEN: usize = 32;
/// Tokens longer than this are refused before decoding; real ones are a few hundred bytes.
const MAX_TOKEN_LEN: usize = 4096;

impl LinkSigner {
    pub fn new(key: [u8; 32]) -> Self {
        LinkSigner { key }
    }

    /// A URL-safe token (`[A-Za-z0-9_-]`) for the claim.
    pub fn sign(&self, claim: &LinkClaim) -> String {
        let mut bytes = encode_claim(claim);
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The claim in `token`, if this key signed it and it has not expired at `now`. Never
    /// panics, whatever the input. The MAC is compared in constant time.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<LinkClaim, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| LinkError::Malformed)?;
        let split = bytes.len().checked_sub(MAC_LEN).ok_or(LinkError::Malformed)?;
        let (signed, tag) = bytes.split_at(split);
        let claim = decode_claim(signed).ok_or(LinkError::Malformed)?;
        self.mac(signed).verify_slice(tag).map_err(|_| LinkError::Tampered)?;
        if now >= claim.expires_at {
            return Err(LinkError::Expired {
                expired_at: claim.expires_at,
            });
        }
        Ok(claim)
    }

    fn mac(&self, signed: &[u8]) -> HmacSha256 {
        let mut mac = crate::hmac_sha256(&self.key);
        mac.update(DOMAIN);
        mac.update(signed);
        mac
    }
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(***)")
    }
}

fn encode_claim(claim: &LinkClaim) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(18 + claim.alert.len() + claim.person.len() + MAC_LEN);
    bytes.push(VERSION);
    bytes.push(match claim.action {
        LinkAction::Acknowledge => 1,
        LinkAction::Resolve => 2,
    });
    bytes.extend_from_slice(&claim.expires_at.unix_millis().to_be_bytes());
    for field in [&claim.alert, &claim.person] {
        // Fields longer than 4 GiB cannot be built in memory next to this buffer anyway.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes
}

fn decode_claim(bytes: &[u8]) -> Option<LinkClaim> {
    let mut reader = Reader { rest: bytes };
    if reader.take(1)? != [VERSION] {
        return None;
    }
    let action = match reader.take(1)? {
        [1] => LinkAction::Acknowledge,
        [2] => LinkAction::Resolve,
        _ => return None,
    };
    let expires_at = Timestamp::from_unix_millis(i64::from_be_bytes(reader.take(8)?.try_into().ok()?));
    let alert = reader.text()?;
    let person = reader.text()?;
    if !reader.rest.is_empty() {
        return None;
    }
    Some(LinkClaim {
        action,
        alert,
        person,
        expires_at,
    })
}

/// Bounds-checked reads over the token bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        let bytes = self.take(usize::try_from(len).ok()?)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

    fn claim() -> LinkClaim {
        LinkClaim {
            action: LinkAction::Acknowledge,
            alert: "alert-7f3a".into(),
            person: "ana".into(),
            expires_at: Timestamp::from_unix_millis(NOW.unix_millis() + 3_600_000),
        }
    }

    #[test]
    fn a_signed_claim_verifies_until_it_expires() {
        let signer = LinkSigner::new([7; 32]);
        let token = signer.sign(&claim());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        assert_eq!(signer.verify(&token, NOW), Ok(claim()));
        let just_before = Timestamp::from_unix_millis(claim().expires_at.unix_millis() - 1);
        assert_eq!(signer.verify(&token, just_before), Ok(claim()));
        let err = signer.verify(&token, claim().expires_at).unwrap_err();
        assert_eq!(
            err,
            LinkError::Expired {
                expired_at: claim().expires_at
            }
        );
        assert_eq!(err.to_string(), "the link expired at 2027-01-15T09:00:00.000Z");
    }

    #[test]
    fn another_key_malformed_input_and_tampering_are_told_apart() {
        let token = LinkSigner::new([7; 32]).sign(&claim());
        let other = LinkSigner::new([8; 32]);
        assert_eq!(other.verify(&token, NOW), Err(LinkError::Tampered));
        let signer = LinkSigner::new([7; 32]);
        for garbage in ["", "abc", "!!!!", "a.b.c", &"A".repeat(MAX_TOKEN_LEN + 1)] {
            assert_eq!(signer.verify(garbage, NOW), Err(LinkError::Malformed), "{garbage:?}");
        }
        // A resolve claim cannot be made from an acknowledge token by flipping the action.
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[1] = 2;
        assert_eq!(
            signer.verify(&URL_SAFE_NO_PAD.encode(&bytes), NOW),
            Err(LinkError::Tampered)
        );
        assert_eq!(format!("{signer:?}"), "LinkSigner(***)");
    }

    fn any_claim() -> impl Strategy<Value = LinkClaim> {
        (any::<bool>(), ".{0,40}", ".{0,40}", any::<i64>()).prop_map(|(resolve, alert, person, expires)| LinkClaim {
            action: if resolve {
                LinkAction::Resolve
            } else {
                LinkAction::Acknowledge
            },
            alert,
            person,
            expires_at: Timestamp::from_unix_millis(expires),
        })
    }

    proptest! {
        #[test]
        fn every_claim_round_trips(claim in any_claim(), key in any::<[u8; 32]>()) {
            let signer = LinkSigner::new(key);
            let before = Timestamp::from_unix_millis(claim.expires_at.unix_millis().saturating_sub(1));
            let verified = signer.verify(&signer.sign(&claim), before);
            if claim.expires_at.unix_millis() == i64::MIN {
                prop_assert!(verified.is_err());
            } else {
                prop_assert_eq!(verified, Ok(claim));
            }
        }

        #[test]
        fn any_single_byte_change_is_refused(claim in any_claim(), index in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let signer = LinkSigner::new([3; 32]);
            let token = signer.sign(&claim);
            let position = index.index(token.len());
            prop_assume!(token.as_bytes()[position] != byte);
            let mut bytes = token.into_bytes();
            bytes[position] = byte;
            let changed = String::from_utf8_lossy(&bytes);
            let before = Timestamp::from_unix_millis(i64::MIN);
            prop_assert!(signer.verify(&changed, before).is_err());
        }

        #[test]
        fn verify_never_panics(token in ".{0,300}", base64ish in "[A-Za-z0-9_-]{0,300}") {
            let signer = LinkSigner::new([3; 32]);
            let _ = signer.verify(&token, NOW);
            let _ = signer.verify(&base64ish, NOW);
        }
    }
}
