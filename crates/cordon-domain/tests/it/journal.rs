//! Property tests of the journal: the fold is deterministic, and changing, deleting,
//! reordering or truncating any entry is caught at the right place.

use std::collections::BTreeMap;

use cordon_domain::journal::{self, Entry, Finding};
use cordon_domain::{Checkpoint, Event, Hash, Head, Incident, IncidentId, Role, SigningKey, StepId, Timestamp};
use proptest::prelude::*;

use crate::support::{Scenario, person};

/// A pool of actions; each test run proposes a random sequence of them and keeps the ones the
/// rules accept, so journals of every shape show up.
fn action(index: u8) -> (&'static str, Event) {
    let step = StepId(u32::from(index % 14) + 1);
    match index % 9 {
        0 => ("alice", Event::StepStarted { step }),
        1 => (
            "alice",
            Event::StepCompleted {
                step,
                note: "ok".into(),
            },
        ),
        2 => (
            "bob",
            Event::StepCompleted {
                step,
                note: "by bob".into(),
            },
        ),
        3 => (
            "alice",
            Event::StepSkipped {
                step,
                reason: "not needed".into(),
            },
        ),
        4 => (
            "alice",
            Event::StepValidated {
                step,
                note: "checked".into(),
            },
        ),
        5 => ("alice", Event::MemberAdded { person: person("bob") }),
        6 => (
            "alice",
            Event::GateOverridden {
                step,
                gate: "contain-first".into(),
                reason: "speed".into(),
            },
        ),
        7 => (
            "alice",
            Event::RoleAssigned {
                person: person("carol"),
                role: Role::Scribe,
            },
        ),
        _ => (
            "alice",
            Event::StepNotApplicable {
                step,
                reason: "no hosts".into(),
            },
        ),
    }
}

fn scenario_from(actions: &[u8]) -> Scenario {
    let mut scenario = Scenario::security();
    for &index in actions {
        let (actor, event) = action(index);
        let _ = scenario.act(actor, event);
    }
    scenario
}

fn sealed(scenario: &Scenario) -> Vec<Entry> {
    let id = IncidentId::new("inc-1");
    let mut prev = Hash::GENESIS;
    scenario
        .journal
        .iter()
        .map(|recorded| {
            let entry = Entry::seal(
                id.clone(),
                recorded.seq,
                recorded.at,
                recorded.actor.clone(),
                &recorded.event,
                prev,
            );
            prev = entry.hash;
            entry
        })
        .collect()
}

fn first_break(entries: &[Entry]) -> Option<u64> {
    journal::verify_chain(&IncidentId::new("inc-1"), entries)
        .err()
        .map(|b| b.position)
}

#[derive(Debug, Clone)]
enum Tamper {
    FlipPayloadByte { entry: usize, byte: usize },
    ChangeActor { entry: usize },
    ChangeTime { entry: usize, delta: i64 },
    Delete { entry: usize },
    Swap { first: usize, second: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(entry, byte)| Tamper::FlipPayloadByte { entry, byte }),
        any::<usize>().prop_map(|entry| Tamper::ChangeActor { entry }),
        (any::<usize>(), prop_oneof![-100_000i64..-1, 1i64..100_000])
            .prop_map(|(entry, delta)| Tamper::ChangeTime { entry, delta }),
        any::<usize>().prop_map(|entry| Tamper::Delete { entry }),
        (any::<usize>(), any::<usize>()).prop_map(|(first, second)| Tamper::Swap { first, second }),
    ]
}

/// Applies the tampering and returns the position at which verification must fail, or
/// `None` when the chain alone cannot see it (cutting the tail).
fn apply(entries: &mut Vec<Entry>, tamper: &Tamper) -> Option<u64> {
    let len = entries.len();
    match *tamper {
        Tamper::FlipPayloadByte { entry, byte } => {
            let entry = entry % len;
            let payload = &mut entries[entry].payload;
            let byte = byte % payload.len();
            payload[byte] ^= 0x01;
            Some(entry as u64 + 1)
        }
        Tamper::ChangeActor { entry } => {
            let entry = entry % len;
            entries[entry].actor = person("mallory");
            Some(entry as u64 + 1)
        }
        Tamper::ChangeTime { entry, delta } => {
            let entry = entry % len;
            let at = entries[entry].at.unix_millis() + delta;
            entries[entry].at = Timestamp::from_unix_millis(at);
            Some(entry as u64 + 1)
        }
        Tamper::Delete { entry } => {
            let entry = entry % len;
            entries.remove(entry);
            (entry < len - 1).then_some(entry as u64 + 1)
        }
        Tamper::Swap { first, second } => {
            let (first, second) = (first % len, second % len);
            if first == second {
                let other = if first == 0 { 1 } else { first - 1 };
                entries.swap(first, other);
                Some(first.min(other) as u64 + 1)
            } else {
                entries.swap(first, second);
                Some(first.min(second) as u64 + 1)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn folding_the_same_events_gives_the_same_state(actions in prop::collection::vec(any::<u8>(), 0..60)) {
        let scenario = scenario_from(&actions);
        let first = Incident::fold(IncidentId::new("inc-1"), &scenario.journal).unwrap();
        let second = Incident::fold(IncidentId::new("inc-1"), &scenario.journal).unwrap();
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&first, &scenario.incident);
        // Round-trip through the stored payload bytes gives the same state too.
        let decoded: Vec<_> = sealed(&scenario).iter().map(|e| e.decode().unwrap()).collect();
        prop_assert_eq!(Incident::fold(IncidentId::new("inc-1"), &decoded).unwrap(), first);
    }

    #[test]
    fn any_tampering_is_caught_where_it_happened(
        actions in prop::collection::vec(any::<u8>(), 1..40),
        tamper in tamper(),
    ) {
        let scenario = scenario_from(&actions);
        let mut entries = sealed(&scenario);
        prop_assume!(entries.len() >= 2);
        prop_assert_eq!(first_break(&entries), None);
        let expected = apply(&mut entries, &tamper);
        prop_assert_eq!(first_break(&entries), expected, "{:?}", tamper);
    }

    #[test]
    fn cutting_the_tail_is_caught_by_the_signed_checkpoint(
        actions in prop::collection::vec(any::<u8>(), 1..40),
        cut in 1usize..10,
    ) {
        let scenario = scenario_from(&actions);
        let mut entries = sealed(&scenario);
        let key = SigningKey::from_bytes(&[7; 32]);
        let head = Head { incident: IncidentId::new("inc-1"), seq: entries.len() as u64, hash: entries[entries.len() - 1].hash };
        let checkpoint = Checkpoint::new(1, Timestamp::from_unix_millis(0), Hash::GENESIS, vec![head]).sign(&key);
        let keep = entries.len().saturating_sub(cut);
        let expected_seq = entries.len() as u64;
        entries.truncate(keep);
        prop_assert_eq!(first_break(&entries), None, "a cut chain is still a valid chain");
        let journals = BTreeMap::from([(IncidentId::new("inc-1"), entries)]);
        let report = journal::audit(&journals, &[checkpoint], &key.verifying_key(), None);
        prop_assert_eq!(report.findings, vec![Finding::Truncated {
            incident: IncidentId::new("inc-1"),
            checkpoint: 1,
            expected_seq,
            found_seq: keep as u64,
        }]);
    }
}

#[test]
fn a_forged_or_missing_checkpoint_is_named() {
    let scenario = scenario_from(&[1, 2, 3]);
    let entries = sealed(&scenario);
    let key = SigningKey::from_bytes(&[7; 32]);
    let forger = SigningKey::from_bytes(&[8; 32]);
    let head = Head {
        incident: IncidentId::new("inc-1"),
        seq: entries.len() as u64,
        hash: entries[entries.len() - 1].hash,
    };
    let first = Checkpoint::new(1, Timestamp::from_unix_millis(0), Hash::GENESIS, vec![head.clone()]).sign(&key);
    let second = Checkpoint::new(
        2,
        Timestamp::from_unix_millis(1),
        first.checkpoint.digest(),
        vec![head.clone()],
    )
    .sign(&forger);
    let journals = BTreeMap::from([(IncidentId::new("inc-1"), entries)]);
    let report = journal::audit(&journals, &[first.clone(), second], &key.verifying_key(), None);
    let rendered: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        ["checkpoint 2: signature does not verify with this installation's key"]
    );

    // The database lost its latest checkpoint, but the witness kept outside it remembers.
    let third = Checkpoint::new(2, Timestamp::from_unix_millis(1), first.checkpoint.digest(), vec![head]).sign(&key);
    let report = journal::audit(&journals, &[first], &key.verifying_key(), Some(&third));
    let rendered: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        ["witness: the witness holds checkpoint 2 but the database has only 1 (checkpoints were removed)"]
    );
}
