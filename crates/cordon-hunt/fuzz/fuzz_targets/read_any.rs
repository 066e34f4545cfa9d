//! Any bytes through format recognition and every reader (JSON, JSON Lines, syslog, CSV, gzip).
#![no_main]

use cordon_hunt::fuzzing::read_any;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| read_any(data));
