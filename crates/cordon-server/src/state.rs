//! Shared server state: the use cases, the store, keys, the setup token and the throttle.

use std::sync::{Arc, Mutex};

use cordon_app::Service;
use cordon_app::paging::Paging;
use cordon_auth::throttle::{Throttle, ThrottleConfig};
use cordon_store::Store;
use sha2::{Digest, Sha256};

use crate::config::ServerConfig;
use crate::metrics::Metrics;

pub struct AppState<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S> {
    service: Service<S>,
    paging: Paging<S>,
    store: S,
    config: ServerConfig,
    csrf_key: [u8; 32],
    setup_digest: Mutex<Option<String>>,
    throttle: Mutex<Throttle>,
    metrics: Metrics,
}

impl<S: Store> AppState<S> {
    /// `secret_seed` is the installation's signing-key seed; the CSRF key is derived from it
    /// so that every node sharing the key accepts the same CSRF tokens.
    pub fn new(service: Service<S>, store: S, config: ServerConfig, secret_seed: &[u8; 32]) -> AppState<S> {
        let mut hasher = Sha256::new();
        hasher.update(b"cordon-csrf-key-v1\0");
        hasher.update(secret_seed);
        AppState {
            inner: Arc::new(Inner {
                paging: Paging::new(service.clone(), &config.public_url),
                service,
                store,
                config,
                csrf_key: hasher.finalize().into(),
                setup_digest: Mutex::new(None),
                throttle: Mutex::new(Throttle::new(ThrottleConfig::default())),
                metrics: Metrics::default(),
            }),
        }
    }

    pub fn service(&self) -> &Service<S> {
        &self.inner.service
    }

    /// Alert intake, on-call and notifications.
    pub fn paging(&self) -> &Paging<S> {
        &self.inner.paging
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub fn csrf_key(&self) -> &[u8; 32] {
        &self.inner.csrf_key
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Arms the one-time setup token (its digest) while no user exists.
    pub fn set_setup_digest(&self, digest: Option<String>) {
        if let Ok(mut slot) = self.inner.setup_digest.lock() {
            *slot = digest;
        }
    }

    /// Consumes the setup token if `digest` matches it.
    pub fn take_setup(&self, digest: &str) -> bool {
        match self.inner.setup_digest.lock() {
            Ok(mut slot) if slot.as_deref() == Some(digest) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// Runs `f` with the login throttle held.
    pub fn with_throttle<T>(&self, f: impl FnOnce(&mut Throttle) -> T) -> Option<T> {
        self.inner.throttle.lock().ok().map(|mut throttle| f(&mut throttle))
    }
}
