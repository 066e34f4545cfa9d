//! Share links: an expiring, single-purpose grant to download one evidence item, for a named
//! recipient outside the incident (for example an outside forensics firm).
//!
//! The token is 32 random bytes, shown once as base64url. Cordon keeps only its SHA-256 in the
//! [`ShareGrant`], so a copy of the database does not hand out working links. Every decision
//! here is a pure function of the grant, the item and `now`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cordon_domain::{IncidentId, Person, Timestamp};
use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, sha256_of};
use crate::error::EvidenceError;
use crate::item::{EvidenceItem, Tlp};

/// The secret a share link carries. Its `Debug` output is redacted; [`ShareToken::expose`] is
/// the one place the secret leaves this type, to be put in the link shown to the creator.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareToken(String);

impl ShareToken {
    /// Draws a new token from the operating system's random source.
    pub fn generate() -> Result<ShareToken, EvidenceError> {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes).map_err(|err| EvidenceError::Randomness {
            reason: err.to_string(),
        })?;
        Ok(ShareToken::from_random_bytes(bytes))
    }

    /// Makes a token from 32 bytes that the caller drew from a cryptographically secure source.
    pub fn from_random_bytes(bytes: [u8; 32]) -> ShareToken {
        ShareToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Takes a token as presented in a link.
    pub fn from_presented(text: &str) -> ShareToken {
        ShareToken(text.trim().to_owned())
    }

    /// The base64url text of the token, for the link. Show it once, store it nowhere.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the token's text: what the grant stores and what the caller looks the
    /// grant up by.
    pub fn digest(&self) -> Sha256Digest {
        sha256_of(self.0.as_bytes())
    }
}

impl fmt::Debug for ShareToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareToken(<redacted>)")
    }
}

/// What a share link allows, as its creator asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRequest {
    /// Who the link is for, e.g. `Dana Analyst, Example Forensics`.
    pub recipient: String,
    /// Why the item is shared; recorded in the chain of custody.
    pub purpose: String,
    pub created_by: Person,
    pub expires_at: Timestamp,
    pub uses: ShareUses,
}

/// How often a link may be used before it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareUses {
    /// Once: the first download uses it up.
    SingleUse,
    /// Any number of times until it expires, e.g. to resume a large download.
    UntilExpiry,
}

/// A share link as Cordon stores it: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareGrant {
    /// SHA-256 of the token; see [`ShareToken::digest`].
    pub token_sha256: Sha256Digest,
    pub incident: IncidentId,
    /// The one item this link downloads.
    pub item: Sha256Digest,
    pub recipient: String,
    pub purpose: String,
    pub created_by: Person,
    #[serde(with = "crate::serde_time")]
    pub created_at: Timestamp,
    #[serde(with = "crate::serde_time")]
    pub expires_at: Timestamp,
    pub uses: ShareUses,
    /// When the link was first used, if it was.
    #[serde(default, with = "crate::serde_time::option")]
    pub first_used_at: Option<Timestamp>,
}

/// Issues a grant to share `item` through `token`. TLP:RED items cannot be shared outside the
/// incident's members, and a link must expire after it is created.
pub fn create_share_grant(
    item: &EvidenceItem,
    token: &ShareToken,
    request: ShareRequest,
    now: Timestamp,
) -> Result<ShareGrant, EvidenceError> {
    refuse_red(item.tlp)?;
    if request.expires_at <= now {
        return Err(EvidenceError::ShareExpiryNotAfterCreation {
            created_at: now,
            expires_at: request.expires_at,
        });
    }
    Ok(ShareGrant {
        token_sha256: token.digest(),
        incident: item.incident.clone(),
        item: item.sha256,
        recipient: request.recipient,
        purpose: request.purpose,
        created_by: request.created_by,
        created_at: now,
        expires_at: request.expires_at,
        uses: request.uses,
        first_used_at: None,
    })
}

/// Decides whether `presented` may download `item` at `now` under `grant`. The item's current
/// marking counts: an item raised to TLP:RED after the link was made can no longer be fetched.
pub fn check_share(
    grant: &ShareGrant,
    presented: &ShareToken,
    item: &EvidenceItem,
    now: Timestamp,
) -> Result<(), EvidenceError> {
    if !digests_equal(&grant.token_sha256, &presented.digest()) {
        return Err(EvidenceError::ShareTokenMismatch);
    }
    if now >= grant.expires_at {
        return Err(EvidenceError::ShareExpired {
            expired_at: grant.expires_at,
        });
    }
    if let (ShareUses::SingleUse, Some(used_at)) = (grant.uses, grant.first_used_at) {
        return Err(EvidenceError::ShareAlreadyUsed { used_at });
    }
    if grant.item != item.sha256 || grant.incident != item.incident {
        return Err(EvidenceError::ShareWrongItem {
            granted: grant.item,
            requested: item.sha256,
        });
    }
    refuse_red(item.tlp)
}

/// Checks the link like [`check_share`] and, if it may be used, returns the grant as it is
/// after this use, for the caller to store (with a compare-and-swap, so two concurrent uses of
/// a single-use link cannot both succeed).
pub fn use_share(
    grant: &ShareGrant,
    presented: &ShareToken,
    item: &EvidenceItem,
    now: Timestamp,
) -> Result<ShareGrant, EvidenceError> {
    check_share(grant, presented, item, now)?;
    let mut used = grant.clone();
    used.first_used_at.get_or_insert(now);
    Ok(used)
}

fn refuse_red(tlp: Tlp) -> Result<(), EvidenceError> {
    if tlp.may_share_outside_members() {
        Ok(())
    } else {
        Err(EvidenceError::TlpForbidsSharing { tlp })
    }
}

/// Compares in time independent of where the digests differ.
fn digests_equal(left: &Sha256Digest, right: &Sha256Digest) -> bool {
    left.0.iter().zip(right.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digests;
    use crate::item::RetentionState;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_unix_millis(millis)
    }

    fn item(tlp: Tlp) -> EvidenceItem {
        let digests = Digests::of(b"memory image");
        EvidenceItem {
            incident: IncidentId::new("inc-1"),
            sha256: digests.sha256,
            sha1: digests.sha1,
            md5: digests.md5,
            size: digests.size,
            original_name: "mem.lime".to_owned(),
            source: "host db-3".to_owned(),
            collected_by: Person::new("alice").unwrap(),
            collected_at: at(0),
            stored_at: at(1),
            tlp,
            retention: RetentionState::Standard,
        }
    }

    fn request(uses: ShareUses) -> ShareRequest {
        ShareRequest {
            recipient: "Dana Analyst, Example Forensics".to_owned(),
            purpose: "memory analysis".to_owned(),
            created_by: Person::new("alice").unwrap(),
            expires_at: at(10_000),
            uses,
        }
    }

    fn token() -> ShareToken {
        ShareToken::from_random_bytes([7; 32])
    }

    #[test]
    fn a_token_is_43_base64url_characters_and_never_printed() {
        let token = ShareToken::generate().unwrap();
        assert_eq!(token.expose().len(), 43);
        assert!(
            token
                .expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(format!("{token:?}"), "ShareToken(<redacted>)");
        assert_ne!(ShareToken::generate().unwrap(), token);
    }

    #[test]
    fn the_grant_stores_only_the_digest_of_the_token() {
        let grant = create_share_grant(&item(Tlp::Amber), &token(), request(ShareUses::SingleUse), at(0)).unwrap();
        let json = serde_json::to_string(&grant).unwrap();
        assert!(!json.contains(token().expose()));
        assert_eq!(grant.token_sha256, token().digest());
    }

    #[test]
    fn red_items_cannot_be_shared() {
        let err = create_share_grant(&item(Tlp::Red), &token(), request(ShareUses::SingleUse), at(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TLP:RED evidence cannot be shared outside the incident's members"
        );
    }

    #[test]
    fn an_item_raised_to_red_after_sharing_can_no_longer_be_fetched() {
        let grant = create_share_grant(&item(Tlp::Green), &token(), request(ShareUses::UntilExpiry), at(0)).unwrap();
        let err = check_share(&grant, &token(), &item(Tlp::Red), at(5)).unwrap_err();
        assert!(matches!(err, EvidenceError::TlpForbidsSharing { tlp: Tlp::Red }));
    }

    #[test]
    fn a_link_must_expire_after_it_is_created() {
        let mut expired = request(ShareUses::SingleUse);
        expired.expires_at = at(0);
        let err = create_share_grant(&item(Tlp::Clear), &token(), expired, at(0)).unwrap_err();
        assert!(matches!(err, EvidenceError::ShareExpiryNotAfterCreation { .. }));
    }

    #[test]
    fn a_single_use_link_works_once_then_never_again() {
        let item = item(Tlp::AmberStrict);
        let grant = create_share_grant(&item, &token(), request(ShareUses::SingleUse), at(0)).unwrap();
        let used = use_share(&grant, &token(), &item, at(100)).unwrap();
        assert_eq!(used.first_used_at, Some(at(100)));
        let err = use_share(&used, &token(), &item, at(200)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this single-use share link was already used at 1970-01-01T00:00:00.100Z"
        );
    }

    #[test]
    fn a_reusable_link_works_until_it_expires() {
        let item = item(Tlp::Green);
        let grant = create_share_grant(&item, &token(), request(ShareUses::UntilExpiry), at(0)).unwrap();
        let used = use_share(&grant, &token(), &item, at(100)).unwrap();
        let used_again = use_share(&used, &token(), &item, at(9_999)).unwrap();
        assert_eq!(used_again.first_used_at, Some(at(100)));
        let err = check_share(&used_again, &token(), &item, at(10_000)).unwrap_err();
        assert!(matches!(err, EvidenceError::ShareExpired { .. }));
    }

    #[test]
    fn a_link_opens_only_its_own_item_with_its_own_token() {
        let shared = item(Tlp::Green);
        let grant = create_share_grant(&shared, &token(), request(ShareUses::SingleUse), at(0)).unwrap();
        let other_token = ShareToken::from_random_bytes([8; 32]);
        assert!(matches!(
            check_share(&grant, &other_token, &shared, at(1)),
            Err(EvidenceError::ShareTokenMismatch)
        ));
        let mut other_item = item(Tlp::Green);
        other_item.sha256 = sha256_of(b"another image");
        assert!(matches!(
            check_share(&grant, &token(), &other_item, at(1)),
            Err(EvidenceError::ShareWrongItem { .. })
        ));
        let presented = ShareToken::from_presented(&format!(" {} ", token().expose()));
        check_share(&grant, &presented, &shared, at(1)).unwrap();
    }

    proptest::proptest! {
        /// Against a naive statement of the rules: a link opens its own item, with its own
        /// token, before it expires, unless it is single-use and was used, or the item is RED.
        #[test]
        fn check_share_follows_the_rules(
            expires_in in 1i64..10_000,
            now in -100i64..20_000,
            used in proptest::option::of(0i64..10_000),
            single_use in proptest::bool::ANY,
            tlp_index in 0usize..5,
        ) {
            let tlp = Tlp::ALL[tlp_index];
            let shared = item(Tlp::Green);
            let uses = if single_use { ShareUses::SingleUse } else { ShareUses::UntilExpiry };
            let mut wanted = request(uses);
            wanted.expires_at = at(expires_in);
            let mut grant = create_share_grant(&shared, &token(), wanted, at(0)).unwrap();
            grant.first_used_at = used.map(at);
            let mut current = shared.clone();
            current.tlp = tlp;

            let allowed = now < expires_in && !(single_use && used.is_some()) && tlp != Tlp::Red;
            let decided = check_share(&grant, &token(), &current, at(now)).is_ok();
            proptest::prop_assert_eq!(decided, allowed);
        }
    }
}
