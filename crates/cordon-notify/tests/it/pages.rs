//! Pages the tests send, and the words a security page must never show.

use cordon_domain::Severity;
use cordon_notify::{Disclosure, Page, Rendered, render};

pub const ACK: &str = "https://cordon.example.com/l/ack-token";
pub const RESOLVE: &str = "https://cordon.example.com/l/resolve-token";

/// What the engine knows about the alert behind the security page; none of it may be sent.
pub const SECRET_WORDS: [&str; 4] = [
    "exfiltration",
    "payroll-db",
    "crowdstrike",
    "Suspicious outbound transfer",
];

/// A security page built from everything the engine has on the alert, as a stored row would
/// hold it: the security disclosure has no place for the alert's text, so it is dropped.
pub fn security() -> Rendered {
    let stored = serde_json::json!({
        "kind": "security",
        "codename": "quiet-harbor",
        "severity": "sev-1",
        "link": "https://cordon.example.com/incidents/quiet-harbor",
        "title": SECRET_WORDS[3],
        "summary": SECRET_WORDS[0],
        "service": SECRET_WORDS[1],
        "source": SECRET_WORDS[2],
    });
    render(&Page {
        disclosure: serde_json::from_value(stored).unwrap(),
        acknowledge_url: Some(ACK.into()),
        resolve_url: Some(RESOLVE.into()),
        bundled: Vec::new(),
    })
}

pub fn operational() -> Rendered {
    render(&Page {
        disclosure: Disclosure::Operational {
            title: "Disk full on db-1".into(),
            summary: "/var is at 99 %; writes are failing.".into(),
            service: Some("payments".into()),
            severity: Severity::Sev2,
            source: Some("alertmanager".into()),
            link: "https://cordon.example.com/alerts/a-42".into(),
        },
        acknowledge_url: Some(ACK.into()),
        resolve_url: Some(RESOLVE.into()),
        bundled: Vec::new(),
    })
}
