//! Cordon's hunt engine: reads logs (EVTX, CloudTrail, Kubernetes audit, syslog, CSV, any
//! JSON), runs compiled Sigma rules and indicator sweeps over them, and pushes detections into
//! a [`sink::Sink`].

pub mod event;
pub mod fuzzing;
pub mod hunt;
pub mod indicators;
pub mod read;
pub mod report;
pub mod sigma;
pub mod time;
