//! [`Notifier`]: sends a rendered page over a channel, and says whether a failure is worth
//! retrying.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::channel::{Channel, parse_address, parse_url};
use crate::mail::{self, Sender};
use crate::page::Rendered;
use crate::secret::{Secret, SecretUrl, host_and_port};
use crate::wire::{SIGNATURE_HEADER, slack_payload, webhook_body, webhook_signature};

/// What a [`Notifier`] needs: the SMTP relay, if mail is to be sent, and how long to wait for
/// a webhook.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub smtp: Option<SmtpConfig>,
    /// The whole webhook request, from connecting to the last byte of the answer.
    pub http_timeout: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            smtp: None,
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// The SMTP relay mail is handed to.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// The sender, `cordon@example.com` or `Cordon <cordon@example.com>`.
    pub from: String,
    pub security: SmtpSecurity,
    /// Give both or neither.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM certificates trusted in addition to the public roots, for a relay with a private
    /// CA. Read once, by [`Notifier::new`].
    pub extra_ca_pem: Option<PathBuf>,
    /// For connecting and for each command; a whole delivery gets three times this.
    pub timeout: Duration,
    /// The name sent in `EHLO`; `[127.0.0.1]` when unset.
    pub hello_name: Option<String>,
}

impl SmtpConfig {
    /// A relay that requires STARTTLS and has a 30-second timeout, without authentication.
    pub fn new(host: impl Into<String>, port: u16, from: impl Into<String>) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            from: from.into(),
            security: SmtpSecurity::StarttlsRequired,
            username: None,
            password: None,
            extra_ca_pem: None,
            timeout: Duration::from_secs(30),
            hello_name: None,
        }
    }
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS; a relay that does not offer it is refused
    /// (the usual port 587 setup, and the default).
    StarttlsRequired,
    /// STARTTLS when the relay offers it, plain text otherwise. An attacker on the path can
    /// strip the offer; use only towards a relay on a trusted network.
    StarttlsOpportunistic,
    /// TLS from the first byte (port 465).
    ImplicitTls,
    /// No encryption at all, for a relay on the same host.
    Plaintext,
}

/// A configuration [`Notifier::new`] refuses.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid smtp sender address {from:?}")]
    From { from: String },
    #[error("smtp username and password must be given together")]
    Credentials,
    #[error("cannot read the extra ca certificates in {}: {reason}", path.display())]
    ExtraCa { path: PathBuf, reason: String },
    #[error("invalid smtp tls settings for {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("cannot build the http client: {reason}")]
    Http { reason: String },
}

/// Sends pages. Cheap to clone: clones share one HTTP connection pool and one SMTP
/// configuration.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    http_timeout: Duration,
    smtp: Option<Smtp>,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Sender,
    peer: String,
    security: SmtpSecurity,
    deadline: Duration,
}

/// Numbers the mails this process sends, so that two identical pages sent within one second
/// still get distinct message ids.
static MAIL_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A successful hand-over: who took the message and what they answered (the HTTP status or
/// the SMTP reply code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `email`, `webhook` or `slack`.
    pub channel: &'static str,
    /// `host` or `host:port`, never a URL path.
    pub peer: String,
    pub status: u16,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} delivered to {} ({})", self.channel, self.peer, self.status)
    }
}

/// Why a page was not delivered. The message is lowercase and names what failed and where
/// (host, port, status), never a secret, a password or a webhook URL's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying after [`crate::backoff`]: the peer was unreachable or slow, answered
    /// 408, 429 or 5xx over HTTP, or 4xx over SMTP. `retry_after` is the peer's own
    /// `Retry-After` in seconds, at most 30 minutes, when it sent one.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help until someone changes the channel or the configuration: any
    /// other HTTP 4xx or 3xx, SMTP 5xx, an invalid address or URL, a refused certificate, a
    /// relay without the required STARTTLS, or no relay configured.
    #[error("{reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }

    fn transient(reason: String) -> Self {
        SendError::Transient {
            reason,
            retry_after: None,
        }
    }

    fn permanent(reason: String) -> Self {
        SendError::Permanent { reason }
    }
}

impl Notifier {
    /// Builds the HTTP client and the SMTP transport once; reads `extra_ca_pem`.
    pub fn new(config: NotifierConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            // A webhook that redirects is misconfigured; following it would send the signed
            // body somewhere nobody registered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cordon-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ConfigError::Http {
                reason: root_cause(&err),
            })?;
        let smtp = config.smtp.map(build_smtp).transpose()?;
        Ok(Notifier {
            inner: Arc::new(Inner {
                http,
                http_timeout: config.http_timeout,
                smtp,
            }),
        })
    }

    /// Sends one message over one channel. This is the only place the crate reads the wall
    /// clock: for the webhook signature's timestamp (and the mail's `Date`).
    pub async fn send(&self, channel: &Channel, message: &Rendered) -> Result<Delivery, SendError> {
        match channel {
            Channel::Email { address } => self.send_email(address, message).await,
            Channel::Webhook { url, secret } => {
                let body = webhook_body(message);
                let signature = webhook_signature(secret, unix_now(), &body);
                self.post("webhook", "webhook", url, body, Some(signature)).await
            }
            Channel::Slack { url } => {
                let body = slack_payload(message).to_string().into_bytes();
                self.post("slack", "slack webhook", url, body, None).await
            }
        }
    }

    async fn post(
        &self,
        channel: &'static str,
        label: &str,
        url: &SecretUrl,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> Result<Delivery, SendError> {
        let parsed = parse_url(url).map_err(|err| SendError::permanent(err.to_string()))?;
        let peer = host_and_port(&parsed);
        let what = format!("{label} {peer}");
        let mut request = self
            .inner
            .http
            .post(parsed)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| http_error(&what, &err, self.inner.http_timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Delivery {
                channel,
                peer,
                status: status.as_u16(),
            });
        }
        let retry_after = retry_after(response.headers());
        // Slack answers with a short code such as `no_service` or `invalid_payload`; name it
        // when the body is one, and never echo anything longer.
        let code = match response.chunk().await {
            Ok(Some(chunk)) => error_code(&chunk).map(|code| format!(" ({code})")).unwrap_or_default(),
            _ => String::new(),
        };
        let status_text = status.to_string().to_lowercase();
        if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
        {
            Err(SendError::Transient {
                reason: format!("{what} answered {status_text}{code}"),
                retry_after,
            })
        } else if status.is_redirection() {
            Err(SendError::permanent(format!(
                "{what} answered {status_text}; redirects are not followed, register the final url"
            )))
        } else {
            Err(SendError::permanent(format!("{what} answered {status_text}{code}")))
        }
    }

    async fn send_email(&self, address: &str, message: &Rendered) -> Result<Delivery, SendError> {
        let Some(smtp) = &self.inner.smtp else {
            return Err(SendError::permanent(
                "cannot send email: no smtp relay is configured".to_owned(),
            ));
        };
        let to = parse_address(address).map_err(|err| SendError::permanent(err.to_string()))?;
        let envelope = Envelope::new(Some(smtp.from.address.clone()), vec![to.clone()]).map_err(|err| {
            SendError::permanent(format!("cannot address the mail to {address}: {}", lowercase(&err)))
        })?;
        let sequence = MAIL_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let email = mail::format(&smtp.from, &to, message, unix_now(), sequence);
        let what = format!("smtp relay {}", smtp.peer);
        match tokio::time::timeout(smtp.deadline, smtp.transport.send_raw(&envelope, &email)).await {
            Ok(Ok(response)) => Ok(Delivery {
                channel: "email",
                peer: smtp.peer.clone(),
                status: u16::from(response.code()),
            }),
            Ok(Err(err)) => Err(smtp_error(&what, smtp.security, &err)),
            Err(_) => Err(SendError::transient(format!(
                "{what} did not finish the delivery within {} s",
                smtp.deadline.as_secs()
            ))),
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.inner.smtp.as_ref().map(|smtp| &smtp.peer))
            .field("http_timeout", &self.inner.http_timeout)
            .finish()
    }
}

fn build_smtp(config: SmtpConfig) -> Result<Smtp, ConfigError> {
    let from = Sender::parse(&config.from).ok_or_else(|| ConfigError::From {
        from: config.from.clone(),
    })?;
    let tls_error = |reason: String| ConfigError::Tls {
        host: config.host.clone(),
        reason,
    };
    let mut parameters = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.extra_ca_pem {
        let extra_ca = |reason: String| ConfigError::ExtraCa {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|err| extra_ca(lowercase(&err)))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(extra_ca("no pem certificate in the file".to_owned()));
        }
        let certificate = Certificate::from_pem(&pem).map_err(|err| extra_ca(lowercase(&err)))?;
        parameters = parameters.add_root_certificate(certificate);
    }
    let parameters = parameters.build_rustls().map_err(|err| tls_error(lowercase(&err)))?;
    let tls = match config.security {
        SmtpSecurity::StarttlsRequired => Tls::Required(parameters),
        SmtpSecurity::StarttlsOpportunistic => Tls::Opportunistic(parameters),
        SmtpSecurity::ImplicitTls => Tls::Wrapper(parameters),
        SmtpSecurity::Plaintext => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    match (config.username, config.password) {
        (Some(username), Some(password)) => {
            builder = builder.credentials(Credentials::new(username, password.expose().to_owned()));
        }
        (None, None) => {}
        _ => return Err(ConfigError::Credentials),
    }
    if let Some(name) = config.hello_name {
        builder = builder.hello_name(ClientId::Domain(name));
    }
    Ok(Smtp {
        transport: builder.build(),
        from,
        peer: format!("{}:{}", config.host, config.port),
        security: config.security,
        deadline: config.timeout.saturating_mul(3),
    })
}

fn smtp_error(what: &str, security: SmtpSecurity, err: &lettre::transport::smtp::Error) -> SendError {
    if let Some(code) = err.status() {
        // The relay's own words, first line only: they say which recipient or policy.
        let said = err
            .source()
            .map(|source| short(&source.to_string()))
            .filter(|text| !text.is_empty())
            .map(|text| format!(": {text}"))
            .unwrap_or_default();
        let reason = format!("{what} answered {code}{said}");
        return if err.is_permanent() {
            SendError::permanent(reason)
        } else {
            SendError::transient(reason)
        };
    }
    if err.is_timeout() {
        return SendError::transient(format!("{what} timed out"));
    }
    let cause = root_cause(err);
    if err.is_client() {
        if security == SmtpSecurity::StarttlsRequired && cause.contains("starttls") {
            return SendError::permanent(format!(
                "{what} does not offer starttls, which the configuration requires; \
                 nothing was sent in clear text"
            ));
        }
        return SendError::permanent(format!("{what} cannot take the mail: {cause}"));
    }
    if let Some(io) = find_io_error(err) {
        return match io.kind() {
            io::ErrorKind::ConnectionRefused => SendError::transient(format!("{what} refused the connection")),
            io::ErrorKind::InvalidData => SendError::permanent(format!("tls handshake with {what} failed: {cause}")),
            _ => SendError::transient(format!("{what}: connection failed: {cause}")),
        };
    }
    if err.is_tls() {
        return SendError::permanent(format!("tls with {what} failed: {cause}"));
    }
    SendError::transient(format!("{what}: {cause}"))
}

fn http_error(what: &str, err: &reqwest::Error, timeout: Duration) -> SendError {
    if err.is_builder() {
        return SendError::permanent(format!("cannot build the request to {what}"));
    }
    if err.is_timeout() {
        return SendError::transient(format!("{what} did not answer within {} s", timeout.as_secs_f32()));
    }
    let cause = root_cause(err);
    if let Some(io) = find_io_error(err) {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => return SendError::transient(format!("{what} refused the connection")),
            // rustls reports a refused certificate or a broken handshake as invalid data.
            io::ErrorKind::InvalidData => {
                return SendError::permanent(format!("tls handshake with {what} failed: {cause}"));
            }
            _ => {}
        }
    }
    if err.is_connect() {
        return SendError::transient(format!("cannot connect to {what}: {cause}"));
    }
    SendError::transient(format!("request to {what} failed: {cause}"))
}

/// The innermost error's message, lowercased. Only inner errors are used: reqwest's own
/// message contains the full URL.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    short(&lowercase(current))
}

fn find_io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        current = err.source();
    }
    None
}

fn lowercase(err: &dyn fmt::Display) -> String {
    err.to_string().to_lowercase()
}

/// The first line, at most 200 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}

/// A `Retry-After` given in seconds, capped at the longest back-off.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(crate::BACKOFF_CAP))
}

/// A body that is one short word of letters, digits and underscores, like Slack's error codes.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let is_code = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    is_code.then(|| text.to_lowercase())
}

fn unix_now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_error_codes_are_named_and_anything_else_is_not() {
        assert_eq!(error_code(b"no_service\n"), Some("no_service".to_owned()));
        assert_eq!(error_code(b"<html>oops</html>"), None);
        assert_eq!(error_code(b""), None);
        assert_eq!(error_code(&[b'a'; 65]), None);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(crate::BACKOFF_CAP));
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn configuration_mistakes_are_refused_at_start() {
        let mut smtp = SmtpConfig::new("mail.example.com", 587, "not an address");
        let err = Notifier::new(NotifierConfig {
            smtp: Some(smtp.clone()),
            ..NotifierConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.to_string(), r#"invalid smtp sender address "not an address""#);
        smtp.from = "Cordon <cordon@example.com>".into();
        smtp.username = Some("cordon".into());
        let err = Notifier::new(NotifierConfig {
            smtp: Some(smtp.clone()),
            ..NotifierConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "smtp username and password must be given together");
        smtp.username = None;
        smtp.extra_ca_pem = Some(PathBuf::from("/nonexistent/ca.pem"));
        let err = Notifier::new(NotifierConfig {
            smtp: Some(smtp),
            ..NotifierConfig::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the extra ca certificates in /nonexistent/ca.pem: "),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_where_mail_goes_but_no_password() {
        let mut smtp = SmtpConfig::new("mail.example.com", 587, "cordon@example.com");
        smtp.username = Some("cordon".into());
        smtp.password = Some(Secret::new("hunter2"));
        assert!(!format!("{smtp:?}").contains("hunter2"));
        let notifier = Notifier::new(NotifierConfig {
            smtp: Some(smtp),
            ..NotifierConfig::default()
        })
        .unwrap();
        let debug = format!("{notifier:?}");
        assert!(
            debug.contains("mail.example.com:587") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
