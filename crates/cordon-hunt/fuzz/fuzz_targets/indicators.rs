//! Any text as an indicator file or STIX bundle, then a sweep over a sample event.
#![no_main]

use cordon_hunt::fuzzing::indicators;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| indicators(data));
