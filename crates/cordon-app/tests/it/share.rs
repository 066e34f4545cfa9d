//! Share links: one item, expiring, single use when asked, refused for TLP:RED, every use
//! journaled, and every failure the same answer.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use cordon_app::{AppError, DataDir, DeclareRequest, EvidenceMeta, Service};
use cordon_domain::{Event, Incident, Kind, Person, Severity, Timestamp};
use cordon_evidence::Tlp;
use cordon_store::SqliteStore;

pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn alice() -> Person {
    Person::new("alice").unwrap()
}

pub(crate) const NOW: i64 = 1_800_000_000_000;

pub(crate) async fn setup(tlp: Tlp) -> (Service<SqliteStore>, Incident, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("cordon.db")).await.unwrap();
    let service = Service::new(store, DataDir::open(&dir.path().join("data")).unwrap()).unwrap();
    let request = DeclareRequest {
        kind: Kind::Security,
        title: "Disk image".into(),
        severity: Severity::Sev1,
        playbook: None,
    };
    let incident = service
        .declare(&alice(), request, Timestamp::from_unix_millis(NOW))
        .await
        .unwrap();
    let meta = EvidenceMeta {
        name: "db-3.img".into(),
        source: "host db-3".into(),
        collected_by: alice(),
        collected_at: Timestamp::from_unix_millis(NOW),
        tlp,
    };
    let content = Cursor::new(b"disk image bytes".repeat(100));
    let (incident, record) = service
        .add_evidence(
            &alice(),
            incident.id.as_str(),
            content,
            meta,
            "203.0.113.9",
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap();
    (service, incident, record.sha256, dir)
}

#[tokio::test]
async fn a_single_use_link_works_once_and_every_use_is_journaled() {
    let (service, incident, sha256, _dir) = setup(Tlp::Amber).await;
    let at = |ms| Timestamp::from_unix_millis(NOW + ms);
    let share = service
        .share_evidence(
            &alice(),
            incident.id.as_str(),
            &sha256,
            "J. Doe, Outside Forensics",
            "independent analysis",
            24,
            true,
            at(1),
        )
        .await
        .unwrap();
    assert!(format!("{share:?}").contains("***"), "the token never prints");
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = service
        .open_shared(share.token.expose(), Sink(Arc::clone(&received)), "198.51.100.7", at(2))
        .await
        .unwrap();
    assert_eq!(record.sha256, sha256);
    assert_eq!(*received.lock().unwrap(), b"disk image bytes".repeat(100));

    let again = service
        .open_shared(
            share.token.expose(),
            Sink(Arc::new(Mutex::new(Vec::new()))),
            "198.51.100.7",
            at(3),
        )
        .await;
    assert!(matches!(again, Err(AppError::ShareInvalid)), "{again:?}");

    let (lines, chain_break) = service.journal(&alice(), incident.id.as_str()).await.unwrap();
    assert!(chain_break.is_none());
    let events: Vec<&Event> = lines.iter().map(|line| &line.recorded.event).collect();
    assert!(matches!(
        events[events.len() - 2],
        Event::EvidenceShared { single_use: true, .. }
    ));
    assert!(matches!(
        events[events.len() - 1],
        Event::EvidenceShareUsed { intact: true, from: Some(from), .. } if from == "198.51.100.7"
    ));
    assert_eq!(lines.last().unwrap().recorded.actor.as_str(), "share-link");
    let journal_text = format!("{events:?}");
    assert!(
        !journal_text.contains(share.token.expose()),
        "only the token's digest is journaled"
    );
}

#[tokio::test]
async fn expired_forged_and_foreign_links_all_get_the_same_answer() {
    let (service, incident, sha256, _dir) = setup(Tlp::Green).await;
    let share = service
        .share_evidence(
            &alice(),
            incident.id.as_str(),
            &sha256,
            "auditor",
            "insurance claim",
            1,
            false,
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap();
    let late = Timestamp::from_unix_millis(NOW + 3_600_001);
    let sink = || Sink(Arc::new(Mutex::new(Vec::new())));
    let expired = service
        .open_shared(share.token.expose(), sink(), "198.51.100.7", late)
        .await
        .unwrap_err();
    let forged = format!("{}x", share.token.expose());
    let forged = service
        .open_shared(&forged, sink(), "198.51.100.7", Timestamp::from_unix_millis(NOW + 1))
        .await
        .unwrap_err();
    let garbage = service
        .open_shared(
            "cdn_share_nonsense",
            sink(),
            "198.51.100.7",
            Timestamp::from_unix_millis(NOW + 1),
        )
        .await
        .unwrap_err();
    for err in [expired, forged, garbage] {
        assert_eq!(err.to_string(), AppError::ShareInvalid.to_string());
    }
    // Not single-use: it works more than once while it lasts.
    for n in 0..2 {
        service
            .open_shared(
                share.token.expose(),
                sink(),
                "198.51.100.7",
                Timestamp::from_unix_millis(NOW + 10 + n),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn tlp_red_evidence_is_never_shared() {
    let (service, incident, sha256, _dir) = setup(Tlp::Red).await;
    let refused = service
        .share_evidence(
            &alice(),
            incident.id.as_str(),
            &sha256,
            "someone",
            "anything",
            1,
            true,
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("TLP:RED evidence is never shared"),
        "{refused}"
    );
}

#[tokio::test]
async fn clients_cannot_post_custody_facts_themselves() {
    let (service, incident, sha256, _dir) = setup(Tlp::Amber).await;
    let forged = Event::EvidenceAccessed {
        sha256,
        purpose: "pretend".into(),
        intact: true,
        from: None,
    };
    let refused = service
        .act(&alice(), incident.id.as_str(), forged, Timestamp::from_unix_millis(NOW))
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::NotThroughEvidence(_)), "{refused}");
}
