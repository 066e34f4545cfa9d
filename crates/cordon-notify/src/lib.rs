//! Cordon's notification delivery: pages people by email, signed webhook or Slack-compatible
//! webhook, and signs the acknowledge and resolve links those pages carry.
//!
//! The crate does not decide whom to page or when; the outbox and escalation engine do, and
//! call it in three steps:
//!
//! 1. build a [`Page`] and [`render`] it into a [`Rendered`] message (pure, so it can be done
//!    once at enqueue time and stored);
//! 2. [`Notifier::send`] it over a person's [`Channel`];
//! 3. on [`SendError::Transient`], wait [`backoff`]`(attempt)` (or the peer's
//!    [`SendError::retry_after`], if longer) and try again; on [`SendError::Permanent`], stop
//!    and tell someone, because only a change of channel or configuration will help.
//!
//! # Channels
//!
//! - [`Channel::Email`] goes through the relay in [`SmtpConfig`]. STARTTLS is required by
//!   default ([`SmtpSecurity`]); `extra_ca_pem` trusts a private CA in addition to the
//!   public roots. Mail is `multipart/alternative` (text and HTML, base64, 7-bit clean) with
//!   `Auto-Submitted: auto-generated`, so that vacation responders stay quiet.
//! - [`Channel::Webhook`] POSTs JSON to any URL, signed (below). The body is
//!   `{"version": 1, "subject": …, "text": …, "actions": [{"action": "acknowledge", "url": …}, …]}`.
//! - [`Channel::Slack`] POSTs a Slack incoming-webhook payload: `text` with the whole
//!   message, and `blocks` with the message as a section and the acknowledge and resolve
//!   links as buttons. Alert text is escaped, so it cannot `<!channel>` or forge links.
//!
//! Webhook URLs are [`SecretUrl`]s: a Slack URL is its own credential, so `Debug`, `Display`
//! and every error name only scheme, host and port. Passwords and signing secrets are
//! [`Secret`]s, shown as `***`. Redirects are not followed.
//!
//! # What a security page may say
//!
//! Security incidents are need-to-know: Cordon's process says a notification about one
//! carries only its codename, its severity and a link, and everything else is behind the
//! link, where signing in decides who sees it. Pages land on lock screens, in mail archives
//! and in shared chat channels, whose audience is wider than the incident's. So
//! [`Disclosure::Security`] has exactly three fields, codename, severity and link, and no way
//! to carry an alert's title, summary, service or source: the rule holds by construction,
//! not by the caller's care. The same goes for security alerts inside a bundle. The message
//! does not even say "security" (the codename is enough for those who know).
//! [`Disclosure::Operational`] pages say everything.
//!
//! Several pages for one person can go out as one message (`Page::bundled`): "12 alerts for
//! you", each listed with its headline and link, the first [`page::MAX_LISTED`] by name.
//!
//! # Webhook signatures
//!
//! Every generic webhook request carries
//!
//! ```text
//! X-Cordon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//! ```
//!
//! where `secret` is the channel's secret as UTF-8 bytes and `body` the exact request body.
//! A receiver recomputes the HMAC over the raw body, compares it in constant time, and
//! refuses timestamps more than a few minutes from its own clock, which stops replays of a
//! captured request. [`verify_webhook_signature`] does exactly that, and is what a receiver
//! written in Rust can call. Several `v1=` values may appear in future (secret rotation); a
//! receiver accepts the request if any matches.
//!
//! # Back-off
//!
//! [`backoff`] is deterministic: 10 s after the first failed attempt (attempt 0), doubling
//! each time (20 s, 40 s, … 1280 s), and 30 minutes from attempt 8 on. Spreading retries
//! across nodes, if needed, is the caller's business.
//!
//! # Link tokens
//!
//! [`LinkSigner`] signs a [`LinkClaim`] (acknowledge or resolve, an alert id, a person, an
//! expiry) into a URL-safe token with HMAC-SHA256 under a 32-byte key, and
//! [`LinkSigner::verify`] checks it against a `now` passed in. Malformed, tampered and expired
//! tokens are distinct errors ([`LinkError`]); the MAC is compared in constant time. The
//! claim is signed, not encrypted: it names ids, never alert text. See [`link`] for the
//! layout.
//!
//! # Time
//!
//! Nothing here reads the wall clock except [`Notifier::send`], which needs it for the
//! signature's timestamp and the mail's `Date`. Rendering, signing, verifying and back-off
//! take time as a parameter or not at all.

pub mod channel;
pub mod link;
mod mail;
pub mod notifier;
pub mod page;
pub mod secret;
pub mod wire;

use std::time::Duration;

pub use channel::{Channel, InvalidChannel};
pub use link::{LinkAction, LinkClaim, LinkError, LinkSigner};
pub use notifier::{ConfigError, Delivery, Notifier, NotifierConfig, SendError, SmtpConfig, SmtpSecurity};
pub use page::{ActionLink, Disclosure, Page, Rendered, render};
pub use secret::{Secret, SecretUrl};
pub use wire::{SIGNATURE_HEADER, SignatureError, verify_webhook_signature, webhook_signature};

/// The first retry delay.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(10);
/// The longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30 * 60);

/// How long to wait after failed attempt number `attempt` (counting from 0) before the next
/// one: `10 s × 2^attempt`, at most 30 minutes.
pub fn backoff(attempt: u32) -> Duration {
    // 10 s × 2^8 is already past the cap; stopping the shift there also keeps it from
    // overflowing.
    let doubled = BACKOFF_FIRST.saturating_mul(1 << attempt.min(8));
    doubled.min(BACKOFF_CAP)
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 under `key`. HMAC accepts keys of any length, so the fallback (an all-zero key)
/// is never taken; it is there so that this code has no panic path.
fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    use hmac::Mac;
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_thirty_minutes() {
        let seconds: Vec<u64> = (0..10).map(|attempt| backoff(attempt).as_secs()).collect();
        assert_eq!(seconds, [10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800]);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }
}
