//! Any text as Sigma rule YAML: parse, compile, and match against a sample event.
#![no_main]

use cordon_hunt::fuzzing::sigma_rule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigma_rule(data));
