//! Mail through a real SMTP server: delivery over STARTTLS and implicit TLS, what arrives, and
//! how each kind of failure is classified.

use std::time::Duration;

use cordon_notify::{Channel, Notifier, NotifierConfig, SendError, SmtpConfig, SmtpSecurity};

use crate::pages::{self, ACK, RESOLVE, SECRET_WORDS};
use crate::smtp_peer::{self, Mode, SmtpPeer};

fn notifier(peer: &SmtpPeer, security: SmtpSecurity, trust_test_ca: bool) -> Notifier {
    let mut smtp = SmtpConfig::new("localhost", peer.port, "Cordon <cordon@example.com>");
    smtp.security = security;
    smtp.timeout = Duration::from_secs(10);
    if trust_test_ca {
        smtp.extra_ca_pem = Some(peer.ca_pem.clone());
    }
    Notifier::new(NotifierConfig {
        smtp: Some(smtp),
        ..NotifierConfig::default()
    })
    .unwrap()
}

fn email(address: &str) -> Channel {
    Channel::Email {
        address: address.into(),
    }
}

#[tokio::test]
async fn mail_arrives_over_starttls_with_subject_and_links() {
    let Some(peer) = smtp_peer::start(Mode::Starttls).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, true);

    let delivery = notifier
        .send(&email("ana@example.com"), &pages::operational())
        .await
        .unwrap();
    assert_eq!((delivery.channel, delivery.status), ("email", 250));
    assert_eq!(delivery.peer, format!("localhost:{}", peer.port));

    let mails = peer.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["tls"], true, "the mail went over the upgraded connection");
    assert_eq!(mail["mail_from"], "cordon@example.com");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["ana@example.com"]));
    assert_eq!(mail["subject"], "[SEV-2] Disk full on db-1");
    assert_eq!(mail["auto_submitted"], "auto-generated");
    let text = mail["text"].as_str().unwrap();
    let html = mail["html"].as_str().unwrap();
    for expected in ["Service: payments", "writes are failing", ACK, RESOLVE] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    assert!(html.contains(&format!(r#"<a href="{ACK}">Acknowledge</a>"#)), "{html}");
    assert!(html.contains(&format!(r#"<a href="{RESOLVE}">Resolve</a>"#)), "{html}");
}

#[tokio::test]
async fn a_security_mail_says_only_codename_severity_and_link() {
    let Some(peer) = smtp_peer::start(Mode::Starttls).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, true);
    notifier
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap();

    let mails = peer.mails();
    let mail = &mails[0];
    assert_eq!(mail["subject"], "[SEV-1] quiet-harbor");
    let text = mail["text"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(
        text.trim_end(),
        format!(
            "[SEV-1] quiet-harbor\nOpen: https://cordon.example.com/incidents/quiet-harbor\n\nAcknowledge: {ACK}\nResolve: {RESOLVE}"
        )
    );
    let everything = mail.to_string().to_lowercase();
    for word in SECRET_WORDS {
        assert!(
            !everything.contains(&word.to_lowercase()),
            "{word} leaked into {everything}"
        );
    }
}

#[tokio::test]
async fn text_beyond_ascii_arrives_intact() {
    let Some(peer) = smtp_peer::start(Mode::Starttls).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, true);
    let title = "Dérive d'horloge sur ntp-1 — 時刻のずれ, and a title long enough that the subject has to be folded";
    let page = cordon_notify::Page {
        disclosure: cordon_notify::Disclosure::Operational {
            title: title.into(),
            summary: "Écart de 3,2 s.\n.leading dot line".into(),
            service: None,
            severity: cordon_domain::Severity::Sev3,
            source: None,
            link: "https://cordon.example.com/alerts/a-43".into(),
        },
        acknowledge_url: None,
        resolve_url: None,
        bundled: Vec::new(),
    };
    notifier
        .send(&email("ana@example.com"), &cordon_notify::render(&page))
        .await
        .unwrap();
    let mails = peer.mails();
    assert_eq!(mails[0]["subject"], format!("[SEV-3] {title}"));
    let text = mails[0]["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.contains("Écart de 3,2 s.\n.leading dot line\n"), "{text}");
}

#[tokio::test]
async fn mail_arrives_over_implicit_tls() {
    let Some(peer) = smtp_peer::start(Mode::Implicit).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::ImplicitTls, true);
    notifier
        .send(&email("ana@example.com"), &pages::operational())
        .await
        .unwrap();
    assert_eq!(peer.mails()[0]["tls"], true);
}

/// A relay that does not offer STARTTLS when the configuration requires it is a permanent
/// failure: it is a configuration mismatch (or an attacker stripping the offer) that retrying
/// will not fix, and the engine should escalate to another channel now rather than retry for
/// hours while nobody is paged. Nothing may be sent in clear text.
#[tokio::test]
async fn required_starttls_against_a_relay_without_it_is_permanent_and_sends_nothing() {
    let Some(peer) = smtp_peer::start(Mode::Plain).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, true);
    let err = notifier
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "smtp relay localhost:{} does not offer starttls, which the configuration requires; \
             nothing was sent in clear text",
            peer.port
        )
    );
    assert!(peer.mails().is_empty());

    // Opportunistic STARTTLS accepts the same relay, in clear text.
    let opportunistic = self::notifier(&peer, SmtpSecurity::StarttlsOpportunistic, true);
    opportunistic
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap();
    assert_eq!(peer.mails()[0]["tls"], false);
}

#[tokio::test]
async fn an_untrusted_certificate_is_permanent() {
    let Some(peer) = smtp_peer::start(Mode::Starttls).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, false);
    let err = notifier
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "tls handshake with smtp relay localhost:{} failed: ",
            peer.port
        )),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert!(peer.mails().is_empty());
}

#[tokio::test]
async fn rejected_recipients_are_permanent_and_deferrals_transient() {
    let Some(peer) = smtp_peer::start(Mode::Starttls).await else {
        return;
    };
    let notifier = notifier(&peer, SmtpSecurity::StarttlsRequired, true);

    let err = notifier
        .send(&email("nobody@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "smtp relay localhost:{} answered 550: 5.1.1 no such user here",
            peer.port
        )
    );

    let err = notifier
        .send(&email("busy@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("answered 451"), "{err}");
    assert!(peer.mails().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let (_closed, port) = crate::closed_port();
    let mut smtp = SmtpConfig::new("127.0.0.1", port, "cordon@example.com");
    smtp.timeout = Duration::from_secs(5);
    let notifier = Notifier::new(NotifierConfig {
        smtp: Some(smtp),
        ..NotifierConfig::default()
    })
    .unwrap();
    let err = notifier
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("smtp relay 127.0.0.1:{port} refused the connection")
    );
}

#[tokio::test]
async fn no_relay_or_a_bad_address_is_permanent() {
    let without_smtp = Notifier::new(NotifierConfig::default()).unwrap();
    let err = without_smtp
        .send(&email("ana@example.com"), &pages::security())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            reason: "cannot send email: no smtp relay is configured".into()
        }
    );

    let with_smtp = Notifier::new(NotifierConfig {
        smtp: Some(SmtpConfig::new("127.0.0.1", 25, "cordon@example.com")),
        ..NotifierConfig::default()
    })
    .unwrap();
    let err = with_smtp
        .send(&email("ana at example"), &pages::security())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            reason: r#"invalid email address "ana at example""#.into()
        }
    );
}
