//! Integration tests of the hunt engine: readers on committed fixtures, Sigma semantics, the
//! SigmaHQ regression corpus, indicator sweeps and output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod golden;
mod modifiers;
mod regression;
mod robustness;
