//! Bytes behind an EVTX file signature, through the EVTX reader.
#![no_main]

use cordon_hunt::fuzzing::read_evtx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| read_evtx(data));
