//! The conformance tests themselves, generic over the store.

pub use crate::paging::*;

use cordon_domain::journal::{self, Checkpoint};
use cordon_domain::{
    Codename, Entry, Event, Hash, Incident, IncidentId, Kind, Person, Playbook, Recorded, Role, Severity, SigningKey,
    Status, StepId, Timestamp,
};
use cordon_domain::{GlobalRole, Scope};
use cordon_store::{ApiToken, Projection, Session, Store, StoreError, User, UserUpdate};

fn person(name: &str) -> Person {
    Person::new(name).unwrap()
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_700_000_000_000 + millis)
}

async fn declare<S: Store>(
    store: &S,
    id: &str,
    kind: Kind,
    codename: Option<&str>,
    by: &str,
) -> Result<Incident, StoreError> {
    let id = IncidentId::new(id);
    let event = Event::Declared {
        kind,
        title: format!("incident {id}"),
        severity: Severity::Sev2,
        codename: codename.map(Codename::from_stored),
        playbook: Playbook::builtin(kind),
    };
    let entry = Entry::seal(id.clone(), 1, at(0), person(by), &event, Hash::GENESIS);
    let incident = Incident::fold(id, &[entry.decode().unwrap()]).unwrap();
    store.declare(&Projection::from(&incident), &entry).await?;
    Ok(incident)
}

/// Loads the incident from the store, checks the event and appends it on the current head.
async fn append<S: Store>(store: &S, id: &str, actor: &str, event: Event) -> Result<Incident, StoreError> {
    let id = IncidentId::new(id);
    let entries = store.journal(&id).await?;
    let recorded: Vec<Recorded> = entries.iter().map(|e| e.decode().unwrap()).collect();
    let mut incident = Incident::fold(id.clone(), &recorded).unwrap();
    incident.check(&person(actor), &event).unwrap();
    let head = entries.last().unwrap();
    let entry = Entry::seal(id, head.seq + 1, at(head.seq as i64), person(actor), &event, head.hash);
    incident.apply(&entry.decode().unwrap()).unwrap();
    store.append(&entry, &Projection::from(&incident)).await?;
    Ok(incident)
}

pub async fn declared_incident_reads_back<S: Store>(store: S) {
    let incident = declare(&store, "0001-abcd", Kind::Security, Some("quiet-harbor"), "alice")
        .await
        .unwrap();
    let journal = store.journal(&incident.id).await.unwrap();
    assert_eq!(journal.len(), 1);
    journal::verify_chain(&incident.id, &journal).unwrap();
    let rows = store.lookup("quiet-harbor").await.unwrap();
    assert_eq!(rows, vec![Projection::from(&incident).row]);
}

pub async fn second_writer_of_a_sequence_number_gets_a_conflict<S: Store>(store: S) {
    let incident = declare(&store, "0002-abcd", Kind::Security, Some("calm-brook"), "alice")
        .await
        .unwrap();
    let head = store.journal(&incident.id).await.unwrap().pop().unwrap();
    let first = Entry::seal(
        incident.id.clone(),
        2,
        at(1),
        person("alice"),
        &Event::StepStarted { step: StepId(1) },
        head.hash,
    );
    let second = Entry::seal(
        incident.id.clone(),
        2,
        at(2),
        person("alice"),
        &Event::StepStarted { step: StepId(2) },
        head.hash,
    );
    store.append(&first, &Projection::from(&incident)).await.unwrap();
    let err = store.append(&second, &Projection::from(&incident)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { seq: 2, .. }), "{err}");
    assert_eq!(
        store.journal(&incident.id).await.unwrap().len(),
        2,
        "the loser left nothing behind"
    );
}

pub async fn concurrent_appends_never_fork_the_chain<S: Store>(store: S) {
    let incident = declare(&store, "0003-abcd", Kind::Operational, None, "alice")
        .await
        .unwrap();
    let writers = 6;
    let per_writer = 8;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for n in 0..per_writer {
                let event = Event::DecisionRecorded {
                    decision: "none".into(),
                    reason: format!("writer {writer} entry {n}"),
                };
                loop {
                    let id = IncidentId::new("0003-abcd");
                    let entries = store.journal(&id).await.unwrap();
                    let head = entries.last().unwrap();
                    let entry = Entry::seal(id.clone(), head.seq + 1, at(1), person("alice"), &event, head.hash);
                    let recorded: Vec<Recorded> = entries.iter().map(|e| e.decode().unwrap()).collect();
                    let incident = Incident::fold(id, &recorded).unwrap();
                    match store.append(&entry, &Projection::from(&incident)).await {
                        Ok(()) => break,
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(err) => panic!("unexpected error: {err}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let journal = store.journal(&incident.id).await.unwrap();
    assert_eq!(journal.len(), 1 + writers * per_writer);
    journal::verify_chain(&incident.id, &journal).unwrap();
}

pub async fn codenames_are_unique_among_open_incidents<S: Store>(store: S) {
    declare(&store, "0004-aaaa", Kind::Security, Some("misty-fern"), "alice")
        .await
        .unwrap();
    assert!(store.codename_in_use("misty-fern").await.unwrap());
    let err = declare(&store, "0004-bbbb", Kind::Security, Some("misty-fern"), "bob")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CodenameTaken { .. }), "{err}");
    assert!(
        store.lookup("0004-bbbb").await.unwrap().is_empty(),
        "a refused declaration leaves nothing"
    );

    // Closed incidents give their codename back.
    append(
        &store,
        "0004-aaaa",
        "alice",
        Event::RoleAssigned {
            person: person("alice"),
            role: Role::IncidentCommander,
        },
    )
    .await
    .unwrap();
    for step in 1..=14 {
        let event = if step >= 12 {
            Event::StepSkipped {
                step: StepId(step),
                reason: "not necessary".into(),
            }
        } else {
            Event::StepNotApplicable {
                step: StepId(step),
                reason: "test".into(),
            }
        };
        append(&store, "0004-aaaa", "alice", event).await.unwrap();
    }
    append(
        &store,
        "0004-aaaa",
        "alice",
        Event::StatusChanged {
            status: Status::Closed,
            reason: "done".into(),
        },
    )
    .await
    .unwrap();
    assert!(!store.codename_in_use("misty-fern").await.unwrap());
    declare(&store, "0004-cccc", Kind::Security, Some("misty-fern"), "bob")
        .await
        .unwrap();
}

pub async fn lists_apply_need_to_know<S: Store>(store: S) {
    declare(&store, "0005-secr", Kind::Security, Some("lucky-otter"), "alice")
        .await
        .unwrap();
    declare(&store, "0005-oper", Kind::Operational, None, "alice")
        .await
        .unwrap();
    let ids = |rows: Vec<cordon_store::IncidentRow>| rows.into_iter().map(|r| r.id.to_string()).collect::<Vec<_>>();

    assert_eq!(
        ids(store.visible_incidents("alice").await.unwrap()),
        ["0005-oper", "0005-secr"]
    );
    assert_eq!(ids(store.visible_incidents("bob").await.unwrap()), ["0005-oper"]);

    append(
        &store,
        "0005-secr",
        "alice",
        Event::MemberAdded { person: person("bob") },
    )
    .await
    .unwrap();
    assert_eq!(
        ids(store.visible_incidents("bob").await.unwrap()),
        ["0005-oper", "0005-secr"]
    );

    append(
        &store,
        "0005-secr",
        "alice",
        Event::MemberExcluded {
            person: person("bob"),
            reason: "insider?".into(),
        },
    )
    .await
    .unwrap();
    append(
        &store,
        "0005-oper",
        "alice",
        Event::MemberExcluded {
            person: person("bob"),
            reason: "insider?".into(),
        },
    )
    .await
    .unwrap();
    assert!(
        store.visible_incidents("bob").await.unwrap().is_empty(),
        "exclusion hides even operational incidents"
    );
}

pub async fn lookup_by_id_prefix_and_codename<S: Store>(store: S) {
    declare(&store, "7f3a-0001", Kind::Security, Some("noble-raven"), "alice")
        .await
        .unwrap();
    declare(&store, "7f3a-0002", Kind::Operational, None, "alice")
        .await
        .unwrap();
    assert_eq!(store.lookup("7f3a-0001").await.unwrap().len(), 1);
    assert_eq!(
        store.lookup("7f3a").await.unwrap().len(),
        2,
        "a prefix can be ambiguous"
    );
    assert_eq!(store.lookup("noble-raven").await.unwrap().len(), 1);
    assert!(
        store.lookup("7f3").await.unwrap().is_empty(),
        "prefixes need four characters"
    );
    assert!(store.lookup("7f3%").await.unwrap().is_empty(), "no wildcards");
}

pub async fn checkpoints_append_in_order<S: Store>(store: S) {
    let key = SigningKey::from_bytes(&[3; 32]);
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    let incident = declare(&store, "0007-abcd", Kind::Security, Some("tidy-wren"), "alice")
        .await
        .unwrap();
    let heads = store.heads().await.unwrap();
    let first = Checkpoint::new(1, at(5), Hash::GENESIS, heads.clone()).sign(&key);
    store.add_checkpoint(&first).await.unwrap();
    let rival = Checkpoint::new(1, at(6), Hash::GENESIS, heads.clone()).sign(&key);
    let err = store.add_checkpoint(&rival).await.unwrap_err();
    assert!(matches!(err, StoreError::CheckpointConflict { index: 1 }), "{err}");
    let second = Checkpoint::new(2, at(7), first.checkpoint.digest(), heads).sign(&key);
    store.add_checkpoint(&second).await.unwrap();
    assert_eq!(store.checkpoints().await.unwrap(), vec![first, second.clone()]);
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(second));
    let journals = store.journals().await.unwrap();
    let report = journal::audit(
        &journals,
        &store.checkpoints().await.unwrap(),
        &key.verifying_key(),
        None,
    );
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(journals[&incident.id].len(), 1);
}

pub async fn heads_are_the_last_entry_of_each_chain<S: Store>(store: S) {
    declare(&store, "0008-aaaa", Kind::Operational, None, "alice")
        .await
        .unwrap();
    declare(&store, "0008-bbbb", Kind::Operational, None, "alice")
        .await
        .unwrap();
    let incident = append(&store, "0008-bbbb", "alice", Event::StepStarted { step: StepId(1) })
        .await
        .unwrap();
    let mut heads = store.heads().await.unwrap();
    heads.sort();
    let last = store.journal(&incident.id).await.unwrap().pop().unwrap();
    assert_eq!(heads.len(), 2);
    assert_eq!((heads[1].seq, heads[1].hash), (2, last.hash));
}

fn user(name: &str, role: GlobalRole) -> User {
    User {
        name: person(name),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        totp_secret: None,
        totp_enabled: false,
        totp_last_step: None,
        totp_required: false,
        disabled: false,
        created_at: at(0),
    }
}

pub async fn first_user_is_created_only_once<S: Store>(store: S) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert!(store.create_first_user(&user("root", GlobalRole::Admin)).await.unwrap());
    assert!(
        !store
            .create_first_user(&user("intruder", GlobalRole::Admin))
            .await
            .unwrap()
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(store.user("intruder").await.unwrap().is_none());
}

pub async fn users_sessions_and_tokens_round_trip<S: Store>(store: S) {
    let alice = user("alice", GlobalRole::Responder);
    store.create_user(&alice).await.unwrap();
    let err = store.create_user(&alice).await.unwrap_err();
    assert!(matches!(err, StoreError::Exists { .. }), "{err}");
    assert_eq!(store.user("alice").await.unwrap(), Some(alice.clone()));
    let update = UserUpdate {
        role: Some(GlobalRole::Viewer),
        disabled: Some(true),
        ..UserUpdate::default()
    };
    assert!(store.update_user("alice", &update).await.unwrap());
    assert!(!store.update_user("nobody", &update).await.unwrap());
    let updated = store.user("alice").await.unwrap().unwrap();
    assert_eq!(
        (updated.role, updated.disabled, updated.password_hash),
        (GlobalRole::Viewer, true, alice.password_hash)
    );

    let session = Session {
        digest: "d1".into(),
        user: person("alice"),
        created_at: at(0),
        expires_at: at(10),
        second_factor: false,
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.session("d1").await.unwrap(), Some(session));
    store.delete_sessions_of("alice").await.unwrap();
    assert_eq!(store.session("d1").await.unwrap(), None);

    let token = ApiToken {
        id: "t1".into(),
        digest: "digest-1".into(),
        user: person("alice"),
        label: "ci".into(),
        scope: Scope::Read,
        created_at: at(0),
        expires_at: Some(at(100)),
        revoked: false,
    };
    store.create_token(&token).await.unwrap();
    assert_eq!(store.token_by_digest("digest-1").await.unwrap(), Some(token.clone()));
    assert!(
        !store.revoke_token("bob", "t1").await.unwrap(),
        "only the owner revokes"
    );
    assert!(store.revoke_token("alice", "t1").await.unwrap());
    assert!(store.tokens_of("alice").await.unwrap()[0].revoked);
}

pub async fn totp_steps_are_used_once<S: Store>(store: S) {
    store.create_user(&user("alice", GlobalRole::Responder)).await.unwrap();
    store.set_totp("alice", Some("JBSWY3DPEHPK3PXP"), true).await.unwrap();
    assert!(store.use_totp_step("alice", 100).await.unwrap());
    assert!(
        !store.use_totp_step("alice", 100).await.unwrap(),
        "the same step twice is a replay"
    );
    assert!(!store.use_totp_step("alice", 99).await.unwrap());
    assert!(store.use_totp_step("alice", 101).await.unwrap());
    let stored = store.user("alice").await.unwrap().unwrap();
    assert_eq!(
        (stored.totp_secret.as_deref(), stored.totp_enabled),
        (Some("JBSWY3DPEHPK3PXP"), true)
    );
}
