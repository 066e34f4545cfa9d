//! Values that must never reach a log: [`Secret`] (passwords, signing secrets) and
//! [`SecretUrl`] (webhook URLs, whose path is the credential).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string. `Debug` and `Display` print `***`; [`Secret::expose`] is the one way to
/// read it, so every use is easy to find.
///
/// It serializes to its real value, because channels are stored by the caller and must be
/// read back. Treat serialized channels as secrets.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL whose path and query are a credential, as in Slack incoming webhooks
/// (`https://hooks.slack.com/services/T…/B…/<token>`): whoever knows the URL can post.
///
/// `Debug` and `Display` show only scheme, host and port (`https://hooks.slack.com/***`),
/// which is also all that error messages name.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Scheme, host and port followed by `/***`, or `***` when the text is not a URL with a
    /// host.
    pub fn redacted(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(url) if url.host_str().is_some() => format!("{}://{}/***", url.scheme(), host_and_port(&url)),
            _ => "***".to_owned(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `host` or `host:port` when the URL names a port other than its scheme's default.
pub(crate) fn host_and_port(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("unknown host");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn secret_urls_show_only_their_origin() {
        let url = SecretUrl::new("https://hooks.slack.com/services/T0/B0/abcdef?x=1");
        assert_eq!(format!("{url:?}"), "https://hooks.slack.com/***");
        assert_eq!(
            SecretUrl::new("http://127.0.0.1:8080/hook").to_string(),
            "http://127.0.0.1:8080/***"
        );
        assert_eq!(SecretUrl::new("not a url with a token").to_string(), "***");
    }
}
