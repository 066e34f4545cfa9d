//! Integration tests of the domain crate: gate rules, need-to-know, the journal's hash chain
//! and hostile input. (The dependency firewall is in `crates/cordon/tests/it/firewall.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gates;
mod hostile;
mod journal;
mod support;
