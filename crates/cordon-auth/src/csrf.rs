//! CSRF protection for browser sessions: the token is HMAC-SHA256(server key, session digest),
//! so it is bound to one session, needs no storage, and cannot be forged without the key.
//! Requests authenticated by an API token (not a cookie) do not need it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The CSRF token for the session whose stored digest is `session_digest`.
pub fn token(key: &[u8; 32], session_digest: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, session_digest))
}

/// Constant-time check of a submitted CSRF token.
pub fn verify(key: &[u8; 32], session_digest: &str, submitted: &str) -> bool {
    let Ok(submitted) = URL_SAFE_NO_PAD.decode(submitted.trim()) else {
        return false;
    };
    let expected = mac(key, session_digest);
    submitted.len() == expected.len() && bool::from(submitted.ct_eq(&expected))
}

fn mac(key: &[u8; 32], session_digest: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(b"cordon-csrf-v1\0");
            mac.update(session_digest.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_session_and_the_key() {
        let key = [1u8; 32];
        let good = token(&key, "session-a");
        assert!(verify(&key, "session-a", &good));
        assert!(!verify(&key, "session-b", &good));
        assert!(!verify(&[2u8; 32], "session-a", &good));
        assert!(!verify(&key, "session-a", ""));
        assert!(!verify(&key, "session-a", "%%%"));
    }
}
