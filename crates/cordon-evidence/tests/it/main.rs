//! Integration tests of the evidence locker: the store conformance suite, what is particular to
//! the local directory store, export bundles and their offline verification, and the dependency
//! firewall.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bundle;
mod conformance;
mod firewall;
mod local_dir;
mod support;
mod uploads;
