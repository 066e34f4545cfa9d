//! Fuzzes bundle verification with arbitrary bytes: whatever the input, `verify_bundle` must
//! return a report and never panic. Run with `cargo fuzz run verify_bundle` from
//! `crates/cordon-evidence`; copy every crash into `regressions/verify_bundle/`, where the
//! integration tests replay it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _report = cordon_evidence::verify_bundle(data, None);
});
