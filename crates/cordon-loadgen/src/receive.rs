//! The webhook receiver: answers every request 200 at once, counts the requests, and notes when
//! each load-test event was first named in a page.
//!
//! Cordon's webhook page carries the alert's summary in its text, and the load generator puts
//! the event's dedup key (`<run>-<number>`) in the summary, so the receiver can tell which
//! events a page is about without asking the server. A bundle names its first ten alerts; the
//! rest of a bundle is counted by the server but cannot be seen here, and shows as missing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the receiver has seen.
#[derive(Debug)]
pub struct Pages {
    /// `<run>-`: the prefix of the dedup keys to look for, if any.
    prefix: Option<String>,
    webhooks: AtomicU64,
    first_seen: Mutex<HashMap<u64, Instant>>,
}

impl Pages {
    pub fn new(run: Option<String>) -> Pages {
        Pages {
            prefix: run.map(|run| format!("{run}-")),
            webhooks: AtomicU64::new(0),
            first_seen: Mutex::new(HashMap::new()),
        }
    }

    /// Requests received so far.
    pub fn webhooks(&self) -> u64 {
        self.webhooks.load(Ordering::Relaxed)
    }

    fn record(&self, body: &[u8], arrived: Instant) {
        self.webhooks.fetch_add(1, Ordering::Relaxed);
        let Some(prefix) = &self.prefix else { return };
        let named = events_named(&String::from_utf8_lossy(body), prefix);
        if named.is_empty() {
            return;
        }
        if let Ok(mut seen) = self.first_seen.lock() {
            for event in named {
                seen.entry(event).or_insert(arrived);
            }
        }
    }

    fn seen(&self, event: u64) -> Option<Instant> {
        self.first_seen.lock().ok()?.get(&event).copied()
    }
}

/// The event numbers that follow `prefix` in `text`.
fn events_named(text: &str, prefix: &str) -> Vec<u64> {
    let mut events = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(event) = rest[..digits].parse() {
            events.push(event);
        }
    }
    events
}

/// Accepts connections until the task is dropped, answering each request 200 with no body.
pub async fn serve(listener: TcpListener, pages: Arc<Pages>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, most likely; the sender will retry.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let pages = Arc::clone(&pages);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let pages = Arc::clone(&pages);
                async move {
                    // The page has arrived when its request does; reading the body is ours.
                    let arrived = Instant::now();
                    let body = match request.into_body().collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    pages.record(&body, arrived);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// How long events took from their 202 to their first page.
#[derive(Debug)]
pub struct NotifyOutcome {
    /// New events answered 202.
    pub expected: u64,
    /// Latency of each event named in a page, in microseconds.
    pub micros: Vec<u64>,
    /// Requests the receiver got (a bundle is one).
    pub webhooks: u64,
    /// How long after the last send the last page came, or the patience if some never did.
    pub waited: Duration,
}

impl NotifyOutcome {
    pub fn paged(&self) -> u64 {
        self.micros.len() as u64
    }
}

/// Waits until every accepted event was named in a page, or `patience` has passed.
pub async fn wait_for_pages(pages: &Pages, accepted: &[(u64, Instant)], patience: Duration) -> NotifyOutcome {
    let started = Instant::now();
    loop {
        let outstanding = accepted
            .iter()
            .filter(|(event, _)| pages.seen(*event).is_none())
            .count();
        if outstanding == 0 || started.elapsed() >= patience {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut micros = Vec::with_capacity(accepted.len());
    let mut last = started;
    for (event, at) in accepted {
        if let Some(arrived) = pages.seen(*event) {
            last = last.max(arrived);
            let waited = arrived.saturating_duration_since(*at).as_micros();
            micros.push(u64::try_from(waited).unwrap_or(u64::MAX));
        }
    }
    let complete = micros.len() == accepted.len();
    NotifyOutcome {
        expected: accepted.len() as u64,
        micros,
        webhooks: pages.webhooks(),
        waited: if complete {
            last.saturating_duration_since(started)
        } else {
            patience
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_names_the_events_whose_keys_it_quotes() {
        let text = r#"{"subject":"load test event lg1f-12","text":"load test event lg1f-12\nload test event lg1f-7\nlg1f-x lg2-3 lg1f-"}"#;
        assert_eq!(events_named(text, "lg1f-"), vec![12, 12, 7]);
        assert!(events_named(text, "lg9-").is_empty());
    }

    #[test]
    fn only_the_first_page_naming_an_event_counts() {
        let pages = Pages::new(Some("lg1".into()));
        let early = Instant::now();
        pages.record(b"load test event lg1-4", early);
        pages.record(b"load test event lg1-4 and lg1-5", early + Duration::from_secs(1));
        assert_eq!(pages.seen(4), Some(early));
        assert_eq!(pages.seen(5), Some(early + Duration::from_secs(1)));
        assert_eq!(pages.webhooks(), 2);
    }
}
