//! Integration tests of the evidence locker: the local store (streaming, write-once,
//! interrupted ingests, corruption), export bundles and their offline verification, and the
//! dependency firewall.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bundle;
mod firewall;
mod store;
mod support;
