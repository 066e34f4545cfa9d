//! Integration tests of the evidence locker: the store conformance suite, what is particular to
//! the local directory store, export bundles and their offline verification. (The dependency
//! firewall is in `crates/cordon/tests/it/firewall.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bundle;
mod conformance;
mod local_dir;
mod support;
mod uploads;
