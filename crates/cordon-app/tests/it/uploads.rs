//! Resumable uploads through the use cases: bound to their incident, nothing journaled until
//! finished, a declared hash that differs stores nothing.

use std::io::{self, Read};

use cordon_app::{AppError, DeclareRequest, EvidenceMeta};
use cordon_domain::{Event, Kind, Severity, Timestamp};
use cordon_evidence::{Digests, Tlp};

use crate::share::{NOW, alice, setup};

/// Gives `content`, then fails as a dropped connection does.
struct Dropped(io::Cursor<Vec<u8>>);

impl Read for Dropped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset")),
            read => Ok(read),
        }
    }
}

fn meta() -> EvidenceMeta {
    EvidenceMeta {
        name: "memory.lime".into(),
        source: "host web-1, memory".into(),
        collected_by: alice(),
        collected_at: Timestamp::from_unix_millis(NOW),
        tlp: Tlp::AmberStrict,
    }
}

#[tokio::test]
async fn an_upload_resumes_after_a_break_and_is_journaled_only_when_finished() {
    let (service, incident, _, _dir) = setup(Tlp::Amber).await;
    let id = incident.id.as_str();
    let image: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (first, rest) = image.split_at(1_200_000);
    let upload = service.begin_upload(&alice(), id).await.unwrap();
    let broken = service
        .append_upload(
            &alice(),
            id,
            upload.as_str(),
            0,
            Dropped(io::Cursor::new(first.to_vec())),
        )
        .await
        .unwrap_err();
    assert!(broken.to_string().contains("resume from 1200000"), "{broken}");
    let status = service.upload_status(&alice(), id, upload.as_str()).await.unwrap();
    assert_eq!(status.received, 1_200_000);
    let journaled = service.show(&alice(), id).await.unwrap();
    assert_eq!(journaled.evidence.len(), 1, "nothing half-uploaded looks like evidence");

    // Another incident's door does not open this upload.
    let other = service
        .declare(
            &alice(),
            DeclareRequest {
                kind: Kind::Security,
                title: "another".into(),
                severity: Severity::Sev3,
                playbook: None,
            },
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap();
    let foreign = service
        .upload_status(&alice(), other.id.as_str(), upload.as_str())
        .await
        .unwrap_err();
    assert!(matches!(foreign, AppError::NoUpload { .. }), "{foreign}");

    service
        .append_upload(&alice(), id, upload.as_str(), 1_200_000, io::Cursor::new(rest.to_vec()))
        .await
        .unwrap();
    let wrong = Digests::of(b"something else").sha256.to_hex();
    let refused = service
        .finish_upload(
            &alice(),
            id,
            upload.as_str(),
            Some(&wrong),
            meta(),
            "192.0.2.1",
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("nothing was stored"), "{refused}");
    let declared = Digests::of(&image).sha256.to_hex();
    let (incident, record) = service
        .finish_upload(
            &alice(),
            id,
            upload.as_str(),
            Some(&declared),
            meta(),
            "192.0.2.1",
            Timestamp::from_unix_millis(NOW),
        )
        .await
        .unwrap();
    assert_eq!(record.sha256, declared);
    assert_eq!(record.from.as_deref(), Some("192.0.2.1"));
    assert_eq!(incident.evidence.len(), 2);
    let gone = service.upload_status(&alice(), id, upload.as_str()).await.unwrap_err();
    assert!(matches!(gone, AppError::NoUpload { .. }), "{gone}");
    let (lines, _) = service.journal(&alice(), id).await.unwrap();
    assert!(matches!(&lines.last().unwrap().recorded.event, Event::EvidenceCollected(r) if r.name == "memory.lime"));
}
