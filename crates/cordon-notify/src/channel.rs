//! Where a page goes: an email address, a signed JSON webhook or a Slack-compatible webhook.

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretUrl};

/// One way of reaching a person. Stored by the caller as JSON tagged by `kind`:
///
/// ```json
/// {"kind": "email", "address": "ana@example.com"}
/// {"kind": "webhook", "url": "https://tools.example.com/cordon", "secret": "…"}
/// {"kind": "slack", "url": "https://hooks.slack.com/services/…"}
/// ```
///
/// `Debug` never shows the webhook secret or a webhook URL's path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Channel {
    /// Mail through the configured SMTP relay.
    Email { address: String },
    /// A generic JSON webhook, signed with HMAC-SHA256 under `secret` (see the crate docs for
    /// the `X-Cordon-Signature` header and the body).
    Webhook { url: SecretUrl, secret: Secret },
    /// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat). The URL is the
    /// credential.
    Slack { url: SecretUrl },
}

/// Why a channel cannot be used, found before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidChannel {
    #[error("invalid email address {address:?}")]
    EmailAddress { address: String },
    #[error("invalid webhook url {url}: it must be an absolute http or https url with a host")]
    Url { url: String },
    #[error("the webhook secret is empty")]
    EmptySecret,
}

impl Channel {
    /// The channel's kind as stored in JSON: `email`, `webhook` or `slack`.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Email { .. } => "email",
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
        }
    }

    /// Checks the channel the way sending will, so that a person registering it hears about a
    /// typo at once rather than when they are paged.
    pub fn validate(&self) -> Result<(), InvalidChannel> {
        match self {
            Channel::Email { address } => parse_address(address).map(drop),
            Channel::Webhook { url, secret } => {
                parse_url(url)?;
                if secret.expose().is_empty() {
                    return Err(InvalidChannel::EmptySecret);
                }
                Ok(())
            }
            Channel::Slack { url } => parse_url(url).map(drop),
        }
    }
}

pub(crate) fn parse_address(address: &str) -> Result<lettre::Address, InvalidChannel> {
    address.trim().parse().map_err(|_| InvalidChannel::EmailAddress {
        address: address.to_owned(),
    })
}

pub(crate) fn parse_url(url: &SecretUrl) -> Result<reqwest::Url, InvalidChannel> {
    let invalid = || InvalidChannel::Url { url: url.redacted() };
    let parsed = reqwest::Url::parse(url.expose()).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_tagged_by_kind() {
        let json = r#"[
            {"kind": "email", "address": "ana@example.com"},
            {"kind": "webhook", "url": "https://tools.example.com/hook", "secret": "s3cret"},
            {"kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/token"}
        ]"#;
        let channels: Vec<Channel> = serde_json::from_str(json).unwrap();
        assert_eq!(
            channels.iter().map(Channel::kind).collect::<Vec<_>>(),
            ["email", "webhook", "slack"]
        );
        assert!(channels.iter().all(|channel| channel.validate().is_ok()));
        let back = serde_json::to_value(&channels[1]).unwrap();
        assert_eq!(back["secret"], "s3cret", "stored channels keep their secret");
    }

    #[test]
    fn debug_hides_webhook_secrets_and_paths() {
        let channel = Channel::Webhook {
            url: SecretUrl::new("https://tools.example.com/hook/pathtoken"),
            secret: Secret::new("s3cret"),
        };
        let debug = format!("{channel:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("pathtoken"), "{debug}");
        assert!(debug.contains("tools.example.com"), "{debug}");
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let email = Channel::Email {
            address: "not an address".into(),
        };
        assert_eq!(
            email.validate().unwrap_err().to_string(),
            r#"invalid email address "not an address""#
        );
        let ftp = Channel::Slack {
            url: SecretUrl::new("ftp://files.example.com/token"),
        };
        assert_eq!(
            ftp.validate().unwrap_err().to_string(),
            "invalid webhook url ftp://files.example.com/***: it must be an absolute http or https url with a host"
        );
        let empty = Channel::Webhook {
            url: SecretUrl::new("https://a.example/h"),
            secret: Secret::new(""),
        };
        assert_eq!(empty.validate(), Err(InvalidChannel::EmptySecret));
    }
}
