//! Gate rules of the security playbook: every gate blocks what it should and nothing else, a
//! recorded decision lifts what it should, and overrides are the commander's and journaled.

use cordon_domain::playbook::StepId;
use cordon_domain::{Event, Incident, IncidentId, Kind, Role, Status, StepStatus};
use expect_test::expect;

use crate::support::{Scenario, done, person, start};

/// The gated steps of the security playbook and what each waits for.
const GATED: &[u32] = &[3, 10, 11, 14];

#[test]
fn ungated_steps_start_on_a_fresh_incident() {
    for step in 1..=14u32 {
        let mut scenario = Scenario::security();
        let result = scenario.act("alice", start(step));
        assert_eq!(result.is_ok(), !GATED.contains(&step), "step {step}: {result:?}");
    }
}

#[test]
fn assembling_waits_for_containment_and_says_how_to_proceed() {
    let mut scenario = Scenario::security();
    let message = scenario.refused("alice", start(3));
    expect![[r#"step 3 is blocked by gate "contain-first" (Contain before assembling): waits for 1 Stop the attack in progress (pending), 2 Cut off the attack vector (pending); recording decision "containment-not-quick-fix" lifts it; an incident commander may override the gate with a reason"#]]
        .assert_eq(&message);
    scenario.ok("alice", start(1));
    scenario.complete(&[1]);
    let message = scenario.refused("alice", done(3));
    assert!(
        message.contains("2 Cut off the attack vector (pending)") && !message.contains("1 Stop"),
        "{message}"
    );
    scenario.complete(&[2]);
    scenario.ok("alice", start(3));
}

#[test]
fn recorded_decision_that_containment_is_slow_lifts_the_assembly_gate() {
    let mut scenario = Scenario::security();
    scenario.ok(
        "alice",
        Event::DecisionRecorded {
            decision: "containment-not-quick-fix".into(),
            reason: "attacker holds domain admin; we need the whole team to contain".into(),
        },
    );
    scenario.ok("alice", start(3));
}

#[test]
fn forensics_waits_for_each_of_containment_isolation_and_monitoring() {
    for missing in [1u32, 2, 4, 9] {
        let mut scenario = Scenario::security();
        let others: Vec<u32> = [1, 2, 4, 9].into_iter().filter(|s| *s != missing).collect();
        scenario.complete(&others);
        let message = scenario.refused("alice", start(10));
        assert!(
            message.contains(&format!("waits for {missing} ")),
            "missing {missing}: {message}"
        );
        scenario.complete(&[missing]);
        scenario.ok("alice", start(10));
    }
}

#[test]
fn not_applicable_settles_a_step_for_gates() {
    let mut scenario = Scenario::security();
    scenario.complete(&[1, 2, 9]);
    scenario.ok(
        "alice",
        Event::StepNotApplicable {
            step: StepId(4),
            reason: "only a cloud credential was used; no instances".into(),
        },
    );
    scenario.ok("alice", start(10));
}

#[test]
fn internal_comms_need_forensics_and_a_finding_that_no_insider_was_involved() {
    let mut scenario = Scenario::security();
    scenario.complete(&[1, 2, 4, 9, 10]);
    let message = scenario.refused("alice", start(11));
    assert!(message.contains("decision \"attack-not-internal\""), "{message}");
    scenario.ok(
        "alice",
        Event::DecisionRecorded {
            decision: "attack-not-internal".into(),
            reason: "key leaked from a public CI log".into(),
        },
    );
    scenario.ok("alice", start(11));
}

#[test]
fn external_comms_need_timeline_and_data_validated_not_just_done() {
    let mut scenario = Scenario::security();
    scenario.complete(&[5, 6]);
    let message = scenario.refused("alice", start(14));
    assert!(
        message.contains("5 Identify timeline of attack (done, not validated)"),
        "{message}"
    );
    scenario.ok(
        "alice",
        Event::StepValidated {
            step: StepId(5),
            note: "reviewed with legal".into(),
        },
    );
    scenario.refused("alice", start(14));
    scenario.ok(
        "alice",
        Event::StepValidated {
            step: StepId(6),
            note: "reviewed with legal".into(),
        },
    );
    scenario.ok("alice", start(14));
}

#[test]
fn reopening_a_validated_step_closes_the_gate_again() {
    let mut scenario = Scenario::security();
    scenario.complete(&[5, 6]);
    for step in [5, 6] {
        scenario.ok(
            "alice",
            Event::StepValidated {
                step: StepId(step),
                note: String::new(),
            },
        );
    }
    scenario.ok(
        "alice",
        Event::StepReopened {
            step: StepId(5),
            reason: "new logs show earlier access".into(),
        },
    );
    scenario.refused("alice", start(14));
}

#[test]
fn only_the_commander_overrides_with_a_reason_and_it_is_journaled() {
    let mut scenario = Scenario::security();
    scenario.ok("alice", Event::MemberAdded { person: person("bob") });
    let override_gate = |reason: &str| Event::GateOverridden {
        step: StepId(3),
        gate: "contain-first".into(),
        reason: reason.into(),
    };
    let message = scenario.refused("bob", override_gate("I want to"));
    assert_eq!(message, "only the incident commander (alice) may override a gate");
    assert_eq!(
        scenario.refused("alice", override_gate("  ")),
        "a reason is required to override a gate"
    );
    scenario.ok("alice", override_gate("the attacker is gone; we need people now"));
    scenario.ok("bob", start(3));

    let recorded = scenario
        .journal
        .iter()
        .find(|r| matches!(r.event, Event::GateOverridden { .. }))
        .unwrap();
    assert_eq!(recorded.actor, person("alice"));
    let overrides = &scenario.incident.overrides;
    assert_eq!(overrides.len(), 1);
    assert_eq!(
        (overrides[0].by.as_str(), overrides[0].reason.as_str()),
        ("alice", "the attacker is gone; we need people now")
    );
}

#[test]
fn overriding_needs_an_assigned_commander_and_a_real_gate() {
    let mut scenario = Scenario::declared(Kind::Security, "alice");
    let event = Event::GateOverridden {
        step: StepId(3),
        gate: "contain-first".into(),
        reason: "why".into(),
    };
    assert_eq!(
        scenario.refused("alice", event),
        "override a gate needs an incident commander, and none is assigned yet"
    );
    let mut scenario = Scenario::security();
    let event = Event::GateOverridden {
        step: StepId(3),
        gate: "nope".into(),
        reason: "why".into(),
    };
    assert_eq!(
        scenario.refused("alice", event),
        "step 3 has no gate \"nope\" (known: contain-first)"
    );
}

#[test]
fn only_conditional_steps_are_skipped_and_never_silently() {
    let mut scenario = Scenario::security();
    let message = scenario.refused(
        "alice",
        Event::StepSkipped {
            step: StepId(5),
            reason: "no time".into(),
        },
    );
    assert!(message.starts_with("step 5 is not conditional"), "{message}");
    let message = scenario.refused(
        "alice",
        Event::StepSkipped {
            step: StepId(12),
            reason: String::new(),
        },
    );
    assert_eq!(message, "a reason is required to skip a step");
    scenario.ok(
        "alice",
        Event::StepSkipped {
            step: StepId(12),
            reason: "no legal duty, no criminal case".into(),
        },
    );
    assert_eq!(scenario.incident.steps[&StepId(12)].status, StepStatus::Skipped);
}

#[test]
fn closing_needs_every_step_settled() {
    let mut scenario = Scenario::security();
    scenario.complete(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let message = scenario.refused(
        "alice",
        Event::StatusChanged {
            status: Status::Closed,
            reason: "done".into(),
        },
    );
    assert!(message.contains("11 Internal communication (pending)"), "{message}");
    scenario.ok(
        "alice",
        Event::DecisionRecorded {
            decision: "attack-not-internal".into(),
            reason: "forensics".into(),
        },
    );
    scenario.complete(&[11]);
    for step in [12, 13, 14] {
        scenario.ok(
            "alice",
            Event::StepSkipped {
                step: StepId(step),
                reason: "not necessary".into(),
            },
        );
    }
    scenario.ok(
        "alice",
        Event::StatusChanged {
            status: Status::Closed,
            reason: "all settled".into(),
        },
    );
    assert_eq!(
        scenario.refused("alice", start(1)),
        "the incident is closed; nothing more can change"
    );
}

#[test]
fn status_only_moves_forward() {
    let mut scenario = Scenario::security();
    scenario.ok(
        "alice",
        Event::StatusChanged {
            status: Status::Contained,
            reason: "hosts isolated".into(),
        },
    );
    let message = scenario.refused(
        "alice",
        Event::StatusChanged {
            status: Status::Open,
            reason: "oops".into(),
        },
    );
    assert_eq!(
        message,
        "status can only move forward: contained -> open is not allowed"
    );
}

#[test]
fn exclusion_wins_over_any_role_and_hides_the_incident() {
    let mut scenario = Scenario::security();
    scenario.ok(
        "alice",
        Event::RoleAssigned {
            person: person("mallory"),
            role: Role::SubjectMatterExpert,
        },
    );
    assert!(scenario.incident.visible_to(&person("mallory")));
    scenario.ok(
        "alice",
        Event::MemberExcluded {
            person: person("mallory"),
            reason: "suspected insider".into(),
        },
    );
    assert!(!scenario.incident.visible_to(&person("mallory")));
    assert!(!scenario.incident.roles.contains_key(&person("mallory")));
    assert_eq!(
        scenario.refused("mallory", start(1)),
        "mallory is excluded from this incident"
    );
    let message = scenario.refused(
        "alice",
        Event::RoleAssigned {
            person: person("mallory"),
            role: Role::Executive,
        },
    );
    assert_eq!(message, "mallory is excluded from this incident");
    assert_eq!(
        scenario.refused(
            "alice",
            Event::MemberAdded {
                person: person("mallory")
            }
        ),
        message
    );
}

#[test]
fn security_incidents_are_need_to_know_and_operational_ones_open() {
    let security = Scenario::security();
    assert!(security.incident.visible_to(&person("alice")));
    assert!(!security.incident.visible_to(&person("eve")));
    let mut security = security;
    assert_eq!(
        security.refused("eve", start(1)),
        "eve is not a member of this incident"
    );

    let mut operational = Scenario::declared(Kind::Operational, "alice");
    assert!(operational.incident.visible_to(&person("eve")));
    operational.ok("eve", start(1));
}

#[test]
fn observers_watch_but_do_not_act() {
    let mut scenario = Scenario::security();
    scenario.ok(
        "alice",
        Event::RoleAssigned {
            person: person("olga"),
            role: Role::Observer,
        },
    );
    assert!(scenario.incident.visible_to(&person("olga")));
    assert_eq!(
        scenario.refused("olga", start(1)),
        "olga is an observer here and may not change the incident"
    );
}

#[test]
fn there_is_exactly_one_commander_and_handing_over_is_the_commanders_call() {
    let mut scenario = Scenario::security();
    scenario.ok("alice", Event::MemberAdded { person: person("bob") });
    let message = scenario.refused(
        "bob",
        Event::RoleAssigned {
            person: person("bob"),
            role: Role::IncidentCommander,
        },
    );
    assert_eq!(message, "only the incident commander (alice) may assign roles");
    scenario.ok(
        "alice",
        Event::RoleAssigned {
            person: person("bob"),
            role: Role::IncidentCommander,
        },
    );
    assert_eq!(scenario.incident.commander(), Some(&person("bob")));
    let commanders = scenario
        .incident
        .roles
        .values()
        .filter(|roles| roles.contains(&Role::IncidentCommander))
        .count();
    assert_eq!(commanders, 1);
    assert!(scenario.incident.is_member(&person("alice")));
}

#[test]
fn the_fold_of_the_journal_is_the_state_built_step_by_step() {
    let mut scenario = Scenario::security();
    scenario.complete(&[1, 2]);
    scenario.ok("alice", start(3));
    let folded = Incident::fold(IncidentId::new("inc-1"), &scenario.journal).unwrap();
    assert_eq!(folded, scenario.incident);
}

#[test]
fn break_glass_lets_a_non_member_in_with_a_reason_but_never_an_excluded_one() {
    let mut scenario = Scenario::security();
    assert_eq!(
        scenario.refused("root", Event::BreakGlass { reason: " ".into() }),
        "a reason is required to break the glass"
    );
    scenario.ok(
        "root",
        Event::BreakGlass {
            reason: "legal hold request from counsel".into(),
        },
    );
    assert!(scenario.incident.visible_to(&person("root")));
    assert_eq!(
        scenario.incident.break_glass[0].reason,
        "legal hold request from counsel"
    );
    assert_eq!(
        scenario.refused("root", Event::BreakGlass { reason: "again".into() }),
        "root is already a member"
    );

    scenario.ok(
        "alice",
        Event::MemberExcluded {
            person: person("mallory"),
            reason: "insider".into(),
        },
    );
    assert_eq!(
        scenario.refused(
            "mallory",
            Event::BreakGlass {
                reason: "let me in".into()
            }
        ),
        "mallory is excluded from this incident"
    );
}

fn evidence_record(sha: char) -> cordon_domain::EvidenceRecord {
    cordon_domain::EvidenceRecord {
        sha256: sha.to_string().repeat(64),
        sha1: "b".repeat(40),
        md5: "c".repeat(32),
        size: 10,
        name: "db-3.img".into(),
        source: "host db-3".into(),
        collected_by: person("alice"),
        collected_at: cordon_domain::Timestamp::from_unix_millis(0),
        tlp: "TLP:RED".into(),
        from: Some("203.0.113.7".into()),
    }
}

#[test]
fn evidence_custody_is_checked_and_survives_closure() {
    let mut scenario = Scenario::security();
    let mut bad = evidence_record('a');
    bad.tlp = "SECRET".into();
    assert!(
        scenario
            .refused("alice", Event::EvidenceCollected(bad))
            .contains("not a TLP 2.0 label")
    );
    scenario.ok("alice", Event::EvidenceCollected(evidence_record('a')));
    let again = scenario.refused("alice", Event::EvidenceCollected(evidence_record('a')));
    assert!(again.contains("already collected"), "{again}");
    let unknown = Event::EvidenceAccessed {
        sha256: "f".repeat(64),
        purpose: "x".into(),
        intact: true,
        from: None,
    };
    assert!(
        scenario
            .refused("alice", unknown)
            .starts_with("this incident has no evidence")
    );

    scenario.close_settling_every_step();
    // A regulator's request months later: the access is still journaled.
    scenario.ok(
        "alice",
        Event::EvidenceAccessed {
            sha256: "a".repeat(64),
            purpose: "regulator".into(),
            intact: false,
            from: None,
        },
    );
    assert_eq!(scenario.incident.integrity_alarms.len(), 1);
    assert_eq!(scenario.incident.evidence[0].custody.len(), 2);
    assert_eq!(
        scenario.refused("alice", Event::EvidenceCollected(evidence_record('d'))),
        "the incident is closed; nothing more can change"
    );
}

fn hold(sha: char, reason: &str) -> Event {
    Event::EvidenceLegalHoldPlaced {
        sha256: sha.to_string().repeat(64),
        reason: reason.into(),
    }
}

fn release(sha: char, reason: &str) -> Event {
    Event::EvidenceLegalHoldReleased {
        sha256: sha.to_string().repeat(64),
        reason: reason.into(),
    }
}

fn retain(sha: char, until_millis: i64) -> Event {
    Event::EvidenceRetentionSet {
        sha256: sha.to_string().repeat(64),
        until: cordon_domain::Timestamp::from_unix_millis(until_millis),
        reason: "regulator: seven years".into(),
    }
}

#[test]
fn retention_and_legal_holds_are_the_commanders_or_counsels_and_survive_closure() {
    let mut scenario = Scenario::security();
    scenario.ok("alice", Event::EvidenceCollected(evidence_record('a')));
    for (who, role) in [("carol", Role::Scribe), ("dana", Role::LegalCounsel)] {
        scenario.ok(
            "alice",
            Event::RoleAssigned {
                person: person(who),
                role,
            },
        );
    }
    // A scribe may not; legal counsel and the commander may.
    assert_eq!(
        scenario.refused("carol", hold('a', "case 42")),
        "only the incident commander or legal counsel may place a legal hold"
    );
    assert!(
        scenario
            .refused("dana", hold('a', " "))
            .starts_with("a reason is required")
    );
    assert!(
        scenario
            .refused("dana", hold('f', "case 42"))
            .starts_with("this incident has no evidence")
    );
    scenario.ok("dana", hold('a', "case 42"));
    let item = &scenario.incident.evidence[0];
    assert_eq!(item.legal_hold.as_ref().unwrap().reason, "case 42");
    assert!(item.disposal_forbidden_at(cordon_domain::Timestamp::from_unix_millis(i64::MAX)));
    assert!(
        scenario
            .refused("alice", hold('a', "again"))
            .ends_with("is already under legal hold")
    );

    // Retention periods only grow.
    scenario.ok("alice", retain('a', 2_000_000_000_000));
    assert!(
        scenario
            .refused("alice", retain('a', 1_900_000_000_000))
            .contains("a retention period is only ever extended")
    );
    assert_eq!(
        scenario.refused("carol", retain('a', 2_100_000_000_000)),
        "only the incident commander or legal counsel may set a retention period"
    );
    scenario.ok("dana", retain('a', 2_100_000_000_000));

    // Close the incident: holds are still placed and released afterwards.
    scenario.close_settling_every_step();
    assert_eq!(
        scenario.refused("carol", release('a', "case settled")),
        "only the incident commander or legal counsel may release a legal hold"
    );
    scenario.ok("dana", release('a', "case settled"));
    assert!(
        scenario
            .refused("dana", release('a', "again"))
            .ends_with("is not under legal hold")
    );
    let item = &scenario.incident.evidence[0];
    assert!(item.legal_hold.is_none());
    // Released, the retention period still rules: kept until it ends, then disposable.
    let until = item.retention.as_ref().unwrap().until;
    assert!(item.disposal_forbidden_at(cordon_domain::Timestamp::from_unix_millis(until.unix_millis() - 1)));
    assert!(!item.disposal_forbidden_at(until));
    scenario.ok("alice", hold('a', "new subpoena"));

    // The journal folds to the same state.
    let refolded = Incident::fold(IncidentId::new("inc-1"), &scenario.journal).unwrap();
    assert_eq!(refolded, scenario.incident);
}

#[test]
fn without_a_commander_any_member_may_protect_evidence_but_not_release_it() {
    let mut scenario = Scenario::declared(Kind::Security, "alice");
    scenario.ok("alice", Event::EvidenceCollected(evidence_record('a')));
    scenario.ok("alice", hold('a', "case 42"));
    scenario.ok("alice", retain('a', 2_000_000_000_000));
    assert_eq!(
        scenario.refused("alice", release('a', "oops")),
        "only the incident commander or legal counsel may release a legal hold"
    );
}

#[test]
fn custody_events_from_before_from_was_recorded_still_read() {
    let old = r#"{"type":"evidence_accessed","sha256":"aa","purpose":"timeline","intact":true}"#;
    let event: Event = serde_json::from_str(old).unwrap();
    assert!(matches!(event, Event::EvidenceAccessed { from: None, .. }));
    let old_record = r#"{"type":"evidence_collected","sha256":"aa","sha1":"bb","md5":"cc","size":1,"name":"x","source":"y","collected_by":"alice","collected_at":0,"tlp":"TLP:RED"}"#;
    let event: Event = serde_json::from_str(old_record).unwrap();
    assert!(matches!(event, Event::EvidenceCollected(record) if record.from.is_none()));
    // An event without a known origin serializes exactly as before.
    let again = Event::EvidenceAccessed {
        sha256: "aa".into(),
        purpose: "timeline".into(),
        intact: true,
        from: None,
    };
    assert_eq!(serde_json::to_string(&again).unwrap(), old);
}
