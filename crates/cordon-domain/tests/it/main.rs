//! Integration tests of the domain crate: gate rules, need-to-know, the journal's hash chain,

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! and the dependency firewall.

mod firewall;
mod gates;
mod journal;
mod support;
