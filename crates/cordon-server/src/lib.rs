//! Cordon's HTTP server: the REST API under `/api/v1`, browser sessions and API tokens,
//! need-to-know access control, health and readiness, and Prometheus metrics on a separate
//! listener.
//!
//! **Architecture invariant:** a security incident does not exist for anyone who is not on it.
//! Every route that names an incident answers 404 to a non-member exactly as for a missing
//! incident; lists, filters, counts and metrics leave it out. The access-control matrix test
//! (`tests/it/matrix.rs`) checks every route in [`routes::table`] against every kind of caller.

pub mod app;
pub mod auth;
pub mod config;
pub mod dto;
pub mod error;
pub mod evidence_api;
pub mod intake_api;
pub mod metrics;
pub mod openapi;
pub mod paging_api;
pub mod routes;
pub mod state;
pub mod web;

pub use app::{router, serve};
pub use config::{ConfigError, LogFormat, Overrides, ServerConfig};
pub use state::AppState;
