//! Hostile input on stable Rust: random and mutated bytes through the same entry points the fuzz
//! targets use. Nothing may panic.

use cordon_hunt::fuzzing;
use proptest::prelude::*;

use crate::common::fixture;

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    let length = bytes.len().max(1);
    for (position, value) in edits {
        if let Some(byte) = bytes.get_mut(position % length) {
            *byte = *value;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzzing::read_any(&data);
        fuzzing::read_evtx(&data);
        fuzzing::sigma_rule(&data);
        fuzzing::indicators(&data);
    }

    #[test]
    fn mutated_evtx_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..32)) {
        let bytes = std::fs::read(fixture("logs/sysmon-amsi-registry-tampering.evtx")).unwrap();
        let mutated = mutate(bytes, &edits);
        fuzzing::read_evtx(mutated.get(8..).unwrap_or_default());
    }

    #[test]
    fn mutated_text_logs_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16), which in 0usize..4) {
        let name = ["logs/cloudtrail-delete-trail.json", "logs/k8s-audit.jsonl", "logs/auth.log", "logs/cloudtrail-console-login.json.gz"][which];
        let bytes = std::fs::read(fixture(name)).unwrap();
        fuzzing::read_any(&mutate(bytes, &edits));
    }

    #[test]
    fn mutated_rules_never_panic(edits in proptest::collection::vec((any::<usize>(), 32u8..127), 1..8)) {
        let bytes = std::fs::read(fixture("rules/proc_creation_win_amsi_registry_tampering.yml")).unwrap();
        fuzzing::sigma_rule(&mutate(bytes, &edits));
    }
}

#[test]
fn yaml_alias_bombs_and_deep_conditions_are_refused_without_panic() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    fuzzing::sigma_rule(bomb.as_bytes());
    let deep = format!(
        "title: t\nlogsource: {{product: windows}}\ndetection:\n  sel: {{Image: x}}\n  condition: {}sel{}\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    fuzzing::sigma_rule(deep.as_bytes());
    let not_chain = format!(
        "title: t\nlogsource: {{product: windows}}\ndetection:\n  sel: {{Image: x}}\n  condition: {}sel\n",
        "not ".repeat(5000)
    );
    fuzzing::sigma_rule(not_chain.as_bytes());
}
