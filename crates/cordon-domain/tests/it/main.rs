//! Integration tests of the domain crate: gate rules, need-to-know, the journal's hash chain,
//! and the dependency firewall.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod firewall;
mod gates;
mod hostile;
mod journal;
mod support;
