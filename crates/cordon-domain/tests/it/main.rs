//! Integration tests of the domain crate: gate rules, need-to-know, the journal's hash chain,
//! and the dependency firewall.

mod firewall;
mod gates;
mod journal;
mod support;
