//! Use-case tests of `cordon-app` on a real SQLite store: evidence share links.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod share;
