//! Use-case tests of `cordon-app` on a real SQLite store: evidence share links, retention and
//! legal holds, resumable uploads, and the paging pipeline across restarts and racing processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod paging;
mod retention;
mod share;
mod uploads;
