//! cordon-notify against real peers: an SMTP server (Python's aiosmtpd, started per test with
//! a certificate made at test time) and an HTTP receiver served in-process by axum.
//!
//! The SMTP tests need `python3` with `aiosmtpd` (installed by `scripts/setup`). Without it
//! they are skipped with a notice, except under `CI=true`, where a missing aiosmtpd fails the
//! run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pages;
mod smtp;
mod smtp_peer;
mod webhook;

/// A local port that refuses connections: bound, so that nothing else (not even our own
/// connection's ephemeral port, which could otherwise connect to itself) can take it, but not
/// listening. Keep the socket alive for as long as the port must stay closed.
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}
