//! Accepting events: integration keys, per-key token buckets, and the group-commit writer that
//! makes a 202 mean "stored".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cordon_domain::Timestamp;
use cordon_intake::Signal;
use cordon_store::{IntegrationRow, NewIntake, Store};
use tokio::sync::{Notify, mpsc, oneshot};

use super::{Paging, key_digest};

/// The most events one transaction stores. Under load the writer takes whatever has queued
/// while the previous commit synced, up to this many.
const MAX_BATCH: usize = 4_096;

/// How many requests may wait for the writer before new ones are told to retry.
const QUEUE_DEPTH: usize = 16_384;

/// How long this process trusts its copy of the integrations.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    PagerDuty,
    Alertmanager,
    Webhook,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::PagerDuty => "pagerduty",
            IntegrationKind::Alertmanager => "alertmanager",
            IntegrationKind::Webhook => "webhook",
        }
    }

    pub fn parse(word: &str) -> Option<IntegrationKind> {
        match word {
            "pagerduty" => Some(IntegrationKind::PagerDuty),
            "alertmanager" => Some(IntegrationKind::Alertmanager),
            "webhook" => Some(IntegrationKind::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Also for a key of another kind of integration: a sender learns nothing about keys.
    #[error("the integration key is not valid for this endpoint")]
    UnknownKey,
    #[error("too many events for this integration key; retry after {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the signature does not match the body")]
    BadSignature,
    /// Nothing was stored; the sender should retry.
    #[error("events cannot be stored right now: {0}")]
    Unavailable(String),
}

/// A token bucket: `burst` events at once, refilled at `rate_per_minute`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one token, or says how long until one is available.
    fn take(&mut self, now: Instant, rate_per_minute: u32, burst: u32) -> Result<(), Duration> {
        let per_second = f64::from(rate_per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(burst.max(1)));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / per_second.max(f64::MIN_POSITIVE),
            ))
        }
    }
}

/// The integrations by key digest, and when they were read.
type IntegrationCache = Option<(Instant, HashMap<String, Arc<IntegrationRow>>)>;

struct Queued {
    events: Vec<NewIntake>,
    stored: oneshot::Sender<Result<(), String>>,
}

/// Per-process intake state: the integrations by key digest, their buckets, and the writer's
/// queue (started by [`Paging::start`]).
#[derive(Default)]
pub(crate) struct Intake {
    integrations: RwLock<IntegrationCache>,
    buckets: Mutex<HashMap<String, Bucket>>,
    queue: RwLock<Option<mpsc::Sender<Queued>>>,
    /// Wakes the processor after a commit.
    pub(crate) stored: Arc<Notify>,
}

impl Intake {
    pub(crate) fn forget_integrations(&self) {
        if let Ok(mut cache) = self.integrations.write() {
            *cache = None;
        }
    }

    /// The integration with this key digest from the cache, if the cache is fresh and has it.
    /// A stale cache or an unknown key means reading the integrations again, so that a key
    /// removed on another node stops working here within [`RELOAD_INTERVAL`], and a key added
    /// there works here at once.
    fn cached(&self, digest: &str) -> Option<Arc<IntegrationRow>> {
        let cache = self.integrations.read().ok()?;
        let (loaded, map) = cache.as_ref()?;
        if loaded.elapsed() >= RELOAD_INTERVAL {
            return None;
        }
        map.get(digest).cloned()
    }

    fn take_token(&self, integration: &IntegrationRow) -> Result<(), IntakeError> {
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| IntakeError::Unavailable("rate limiter poisoned".into()))?;
        let now = Instant::now();
        let bucket = buckets.entry(integration.id.clone()).or_insert(Bucket {
            tokens: f64::from(integration.burst.max(1)),
            last: now,
        });
        bucket
            .take(now, integration.rate_per_minute, integration.burst)
            .map_err(|wait| IntakeError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            })
    }
}

impl<S: Store> Paging<S> {
    /// The integration `key` names, if it is of `kind`.
    pub async fn integration(&self, key: &str, kind: IntegrationKind) -> Result<Arc<IntegrationRow>, IntakeError> {
        let digest = key_digest(key);
        let found = match self.intake.cached(&digest) {
            Some(found) => Some(found),
            None => {
                let rows = self
                    .store()
                    .integrations()
                    .await
                    .map_err(|err| IntakeError::Unavailable(err.to_string()))?;
                let map: HashMap<String, Arc<IntegrationRow>> = rows
                    .into_iter()
                    .map(|row| (row.key_digest.clone(), Arc::new(row)))
                    .collect();
                let found = map.get(&digest).cloned();
                if let Ok(mut cache) = self.intake.integrations.write() {
                    *cache = Some((Instant::now(), map));
                }
                found
            }
        };
        found
            .filter(|integration| integration.kind == kind.as_str())
            .ok_or(IntakeError::UnknownKey)
    }

    /// Stores `signals` for `integration` if its bucket has room, and returns once they are
    /// durably committed.
    pub async fn accept(
        &self,
        integration: &IntegrationRow,
        signals: Vec<Signal>,
        now: Timestamp,
    ) -> Result<(), IntakeError> {
        self.intake.take_token(integration)?;
        let mut events = Vec::with_capacity(signals.len());
        for signal in signals {
            events.push(NewIntake {
                received_at: now,
                integration: integration.id.clone(),
                service: integration.service.clone(),
                action: signal.action.as_str().to_owned(),
                dedup_key: signal.dedup_key.clone(),
                group_key: signal.group.clone(),
                signal: serde_json::to_string(&signal).map_err(|err| IntakeError::Unavailable(err.to_string()))?,
            });
        }
        let queue = self
            .intake
            .queue
            .read()
            .ok()
            .and_then(|queue| queue.clone())
            .ok_or_else(|| IntakeError::Unavailable("the intake writer is not running".into()))?;
        let (stored, done) = oneshot::channel();
        queue
            .try_send(Queued { events, stored })
            .map_err(|_| IntakeError::Unavailable("the intake queue is full".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(problem)) => Err(IntakeError::Unavailable(problem)),
            Err(_) => Err(IntakeError::Unavailable("the intake writer stopped".into())),
        }
    }

    /// Starts the group-commit writer, without which [`Paging::accept`] answers that events
    /// cannot be stored. Each transaction takes every event queued while the previous one was
    /// syncing, so a burst costs one disk sync per batch, not per event. The writer ends when
    /// this `Paging` and its clones are dropped.
    pub fn start_writer(&self) -> tokio::task::JoinHandle<()> {
        let (sender, mut receiver) = mpsc::channel::<Queued>(QUEUE_DEPTH);
        if let Ok(mut queue) = self.intake.queue.write() {
            *queue = Some(sender);
        }
        let store = self.store().clone();
        let stored = Arc::clone(&self.intake.stored);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                let mut count = batch[0].events.len();
                while count < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => {
                            count += next.events.len();
                            batch.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let events: Vec<NewIntake> = batch.iter().flat_map(|queued| queued.events.iter().cloned()).collect();
                let result = store.insert_intake(&events).await.map_err(|err| {
                    tracing::error!(error = %err, events = events.len(), "cannot store intake events");
                    "the database refused the write".to_owned()
                });
                for queued in batch {
                    // A sender that gave up waiting is not an error: its events are stored.
                    let _ = queued.stored.send(result.clone());
                }
                if result.is_ok() {
                    stored.notify_one();
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 3.0,
            last: start,
        };
        for _ in 0..3 {
            assert!(bucket.take(start, 60, 3).is_ok());
        }
        let wait = bucket.take(start, 60, 3).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        assert!(bucket.take(start + Duration::from_millis(1_001), 60, 3).is_ok());
        // Refill never exceeds the burst.
        assert!(bucket.take(start + Duration::from_secs(3_600), 60, 3).is_ok());
        assert!((bucket.tokens - 2.0).abs() < 1e-9);
    }
}
