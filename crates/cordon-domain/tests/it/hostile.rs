//! Hostile input never panics the parsers a user can feed: playbook files, timestamps, words
//! on the command line, and journal payloads read back from a tampered database.

use cordon_domain::journal::{self, Entry};
use cordon_domain::{Hash, IncidentId, Person, Playbook, Severity, Timestamp};
use proptest::prelude::*;

/// Pieces of a playbook file, so that random files get past the TOML parser often enough to
/// exercise validation too.
fn playbook_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("id = \"p\"".to_owned()),
        Just("title = \"T\"".to_owned()),
        Just("kind = \"security\"".to_owned()),
        Just("[[steps]]".to_owned()),
        Just("[[steps.gates]]".to_owned()),
        Just("[[decisions]]".to_owned()),
        (0u32..6).prop_map(|n| format!("id = {n}")),
        "[a-z]{1,3}".prop_map(|d| format!("id = \"{d}\"")),
        prop::collection::vec(0u32..6, 0..4).prop_map(|v| format!("waits_for = {v:?}")),
        prop::collection::vec(0u32..6, 0..3).prop_map(|v| format!("requires_validated = {v:?}")),
        "[a-z]{1,3}".prop_map(|d| format!("waived_by = \"{d}\"")),
        "[a-z]{1,3}".prop_map(|d| format!("requires_decision = \"{d}\"")),
        Just("conditional = true".to_owned()),
        ".{0,20}",
    ];
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn playbook_parsing_never_panics_and_errors_point_inside_the_file(text in playbook_text()) {
        if let Err(err) = Playbook::parse("team.toml", &text) {
            let lines = text.lines().count().max(1);
            prop_assert!(err.line >= 1 && err.line <= lines + 1, "line {} of {}: {}", err.line, lines, err);
            prop_assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_playbook_never_panic(text in ".{0,400}") {
        let _ = Playbook::parse("x.toml", &text);
    }

    #[test]
    fn words_and_times_never_panic(text in ".{0,64}") {
        let _ = Timestamp::parse_rfc3339(&text);
        let _ = text.parse::<Severity>();
        let _ = Person::new(&text);
        let _ = Hash::from_hex(&text);
    }

    #[test]
    fn tampered_payloads_never_panic_the_audit(payload in prop::collection::vec(any::<u8>(), 0..200), seq in 0u64..5) {
        let entry = Entry {
            incident: IncidentId::new("inc"),
            seq,
            at: Timestamp::from_unix_millis(0),
            actor: Person::new("mallory").unwrap(),
            payload,
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        };
        prop_assert!(journal::verify_chain(&IncidentId::new("inc"), &[entry]).is_err());
    }
}
