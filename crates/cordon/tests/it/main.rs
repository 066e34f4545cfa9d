//! End-to-end tests of the `cordon` binary: the README's walk-through of a security incident,
//! need-to-know, `audit verify` catching hand-made tampering with the SQLite file, and paging
//! with real alert senders, mail and webhook receivers, two nodes and a SIGKILL (`paging`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod evidence;
mod firewall;
mod hunt;
mod paging;
mod remote;
mod support;
mod tamper;
mod walkthrough;
