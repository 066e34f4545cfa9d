//! End-to-end tests of the `cordon` binary: the README's walk-through of a security incident,
//! need-to-know, and `audit verify` catching hand-made tampering with the SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod evidence;
mod firewall;
mod hunt;
mod remote;
mod support;
mod tamper;
mod walkthrough;
