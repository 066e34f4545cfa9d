//! Retention and legal holds through the use cases: who may decide, and what an export bundle's
//! manifest and chain of custody then say.

use std::sync::{Arc, Mutex};

use cordon_app::{AppError, RetentionDecision};
use cordon_domain::{Event, Person, Role, Timestamp};
use cordon_evidence::{Compression, Tlp};

use crate::share::{NOW, Sink, alice, setup};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(NOW + ms)
}

#[tokio::test]
async fn holds_and_retention_reach_the_manifest_and_custody_names_from_where() {
    let (service, incident, sha256, _dir) = setup(Tlp::Amber).await;
    let id = incident.id.as_str();
    let counsel = Person::new("dana").unwrap();
    let scribe = Person::new("carol").unwrap();
    for (person, role) in [(&counsel, Role::LegalCounsel), (&scribe, Role::Scribe)] {
        let event = Event::RoleAssigned {
            person: person.clone(),
            role,
        };
        service.act(&alice(), id, event, at(1)).await.unwrap();
    }
    let commander = Event::RoleAssigned {
        person: alice(),
        role: Role::IncidentCommander,
    };
    service.act(&alice(), id, commander, at(1)).await.unwrap();
    let hold = || RetentionDecision::PlaceHold {
        reason: "case 42".into(),
    };
    let refused = service
        .decide_retention(&scribe, id, &sha256[..8], hold(), at(2))
        .await
        .unwrap_err();
    assert!(matches!(refused, AppError::Refused(_)), "{refused}");
    let until = Timestamp::parse_date_or_rfc3339("2033-01-31").unwrap();
    let retain = RetentionDecision::RetainUntil {
        until,
        reason: "regulator".into(),
    };
    service
        .decide_retention(&alice(), id, &sha256, retain, at(3))
        .await
        .unwrap();
    let held = service
        .decide_retention(&counsel, id, &sha256[..8], hold(), at(4))
        .await
        .unwrap();
    assert!(held.evidence[0].legal_hold.is_some());

    let out = Arc::new(Mutex::new(Vec::new()));
    let read = service
        .read_evidence(
            &alice(),
            id,
            &sha256,
            "timeline",
            Sink(Arc::clone(&out)),
            "192.0.2.44",
            at(5),
        )
        .await
        .unwrap();
    assert!(read > 0);

    let bundle = Arc::new(Mutex::new(Vec::new()));
    service
        .export_evidence(&alice(), id, Sink(Arc::clone(&bundle)), Compression::None, at(6))
        .await
        .unwrap();
    let bytes = bundle.lock().unwrap().clone();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut files = std::collections::BTreeMap::new();
    for file in archive.entries().unwrap() {
        let mut file = file.unwrap();
        let path = file.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut file, &mut text).is_ok() {
            files.insert(path, text);
        }
    }
    let manifest: serde_json::Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    let retention = &manifest["items"][0]["retention"];
    assert_eq!(retention["state"], "legal-hold", "{manifest:#}");
    assert_eq!(retention["placed_by"], "dana");
    assert_eq!(retention["reason"], "case 42");
    let custody: Vec<serde_json::Value> = files["custody.jsonl"]
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let locations: Vec<&str> = custody
        .iter()
        .map(|entry| entry["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["203.0.113.9", "192.0.2.44"], "{custody:#?}");
    let (report, problems) = cordon_app::verify_bundle(&bytes[..], Some(service.public_key()));
    assert!(report.is_valid() && problems.is_empty(), "{report:?} {problems:?}");
}
