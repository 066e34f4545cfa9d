//! Sending triggers: the target, the events, the pacing, and what each answer was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where events go: `http://host:port[/prefix]` plus `/v2/enqueue`.
#[derive(Debug, Clone)]
pub struct Target {
    authority: String,
    path: String,
}

impl Target {
    pub fn parse(base: &str) -> anyhow::Result<Target> {
        let uri: Uri = base.parse().with_context(|| format!("{base:?} is not a URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "{base:?}: only http:// URLs are supported (run the benchmark against a local server)"
        );
        let authority = uri.authority().with_context(|| format!("{base:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(Target {
            authority: format!("{}:{port}", authority.host()),
            path: format!("{}/v2/enqueue", uri.path().trim_end_matches('/')),
        })
    }
}

/// The events a run sends. Event `i` has dedup key `<run>-<i>` and goes to routing key
/// `keys[i % keys.len()]`; a repeat reuses an earlier event's key and routing key, so it lands
/// on the same service's open alert.
#[derive(Debug)]
pub struct Events {
    run: String,
    /// Routing keys as JSON string literals, quoted and escaped once.
    keys: Vec<String>,
    repeat_fraction: f64,
}

impl Events {
    pub fn new(keys: Vec<String>, repeat_fraction: f64) -> Events {
        // Unique per run, so several runs against one database never share a dedup key.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        Events {
            run: format!("lg{millis:x}"),
            keys: keys
                .iter()
                .map(|key| serde_json::Value::String(key.clone()).to_string())
                .collect(),
            repeat_fraction,
        }
    }

    /// The prefix of every dedup key in this run.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The event to send in slot `slot`: which event it is (a new one, `slot` itself, or a
    /// repeat of an earlier one), and its JSON body.
    fn body(&self, slot: u64, random: &mut SplitMix) -> (u64, bool, Bytes) {
        let repeat = slot > 0 && self.repeat_fraction > 0.0 && random.unit() < self.repeat_fraction;
        let event = if repeat { random.below(slot) } else { slot };
        let count = self.keys.len().max(1) as u64;
        let key = self
            .keys
            .get(usize::try_from(event % count).unwrap_or(0))
            .map_or("\"\"", String::as_str);
        let run = &self.run;
        let body = format!(
            r#"{{"routing_key":{key},"event_action":"trigger","dedup_key":"{run}-{event}","payload":{{"summary":"load test event {run}-{event}","source":"cordon-loadgen","severity":"error"}}}}"#
        );
        (event, repeat, Bytes::from(body))
    }
}

/// When events are sent.
#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// Each connection sends as soon as its previous event is answered.
    Closed,
    /// Event `i` is due at `start + i / rate`; latency counts from that moment.
    Open { rate: f64 },
}

#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    pub events: Events,
    pub pacing: Pacing,
    pub duration: Duration,
    pub connections: usize,
    /// Keep each new event's acceptance time, to match it to its page.
    pub record_acceptance: bool,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Requests that got an answer or failed.
    pub sent: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused, reset or closed).
    pub errors: u64,
    /// Latency of each 202, in microseconds (from the due time in open loop).
    pub accepted_micros: Vec<u64>,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// New (not repeated) events answered 202, and when, if the plan asked for them.
    pub accepted: Vec<(u64, Instant)>,
}

impl Outcome {
    pub fn accepted_count(&self) -> u64 {
        self.statuses.get(&202).copied().unwrap_or(0)
    }

    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.errors += other.errors;
        self.accepted_micros.extend(other.accepted_micros);
        self.elapsed = self.elapsed.max(other.elapsed);
        self.accepted.extend(other.accepted);
    }
}

struct Shared {
    plan: Plan,
    start: Instant,
    end: Instant,
    next_slot: AtomicU64,
}

/// Runs the plan on `plan.connections` connections and merges what each saw.
pub async fn run(plan: Plan) -> anyhow::Result<Outcome> {
    // Connect everything before the clock starts, so set-up is not counted as latency.
    let mut senders = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        senders.push(connect(&plan.target).await?);
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        end: start + plan.duration,
        plan,
        start,
        next_slot: AtomicU64::new(0),
    });
    let workers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(number, sender)| tokio::spawn(work(Arc::clone(&shared), sender, number as u64)))
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        outcome.merge(worker.await.context("a connection task failed")?);
    }
    Ok(outcome)
}

/// One connection's loop: take the next slot, wait for its due time (open loop), send, record.
async fn work(shared: Arc<Shared>, sender: SendRequest<Full<Bytes>>, number: u64) -> Outcome {
    let plan = &shared.plan;
    let mut sender = Some(sender);
    let mut random = SplitMix(number.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
    let mut outcome = Outcome::default();
    loop {
        // Open loop sends every event due before the end, however late, so a stall near the
        // end is counted rather than dropped.
        if matches!(plan.pacing, Pacing::Closed) && Instant::now() >= shared.end {
            break;
        }
        let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed);
        let due = match plan.pacing {
            Pacing::Closed => Instant::now(),
            Pacing::Open { rate } => {
                let due = shared.start + Duration::from_secs_f64(slot as f64 / rate);
                if due >= shared.end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                due
            }
        };
        let (event, repeat, body) = plan.events.body(slot, &mut random);
        let connection = match sender.as_mut() {
            Some(connection) => connection,
            None => match connect(&plan.target).await {
                Ok(fresh) => sender.insert(fresh),
                Err(_) => {
                    outcome.sent += 1;
                    outcome.errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let answer = post(connection, &plan.target, body).await;
        let answered = Instant::now();
        outcome.sent += 1;
        outcome.elapsed = answered.saturating_duration_since(shared.start);
        match answer {
            Ok(status) => {
                *outcome.statuses.entry(status).or_default() += 1;
                if status == 202 {
                    let micros = answered.saturating_duration_since(due).as_micros();
                    outcome.accepted_micros.push(u64::try_from(micros).unwrap_or(u64::MAX));
                    if plan.record_acceptance && !repeat {
                        outcome.accepted.push((event, answered));
                    }
                }
            }
            Err(_) => {
                outcome.errors += 1;
                sender = None;
            }
        }
    }
    outcome
}

async fn connect(target: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("cannot connect to {}", target.authority))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(async move {
        // The connection ends when the server closes it; the next send then reconnects.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one event and reads the whole answer; returns its status.
async fn post(sender: &mut SendRequest<Full<Bytes>>, target: &Target, body: Bytes) -> anyhow::Result<u16> {
    sender.ready().await?;
    let request = Request::post(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// A small deterministic random source (SplitMix64), enough to choose repeats.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, bound); `bound` must be positive.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_enqueue_path_under_the_base_url() {
        let target = Target::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(target.authority, "127.0.0.1:8080");
        assert_eq!(target.path, "/v2/enqueue");
        let behind_a_prefix = Target::parse("http://localhost/cordon").unwrap();
        assert_eq!(behind_a_prefix.authority, "localhost:80");
        assert_eq!(behind_a_prefix.path, "/cordon/v2/enqueue");
        assert!(Target::parse("https://example.com").is_err());
    }

    #[test]
    fn new_events_have_their_own_dedup_key_and_go_round_robin_over_the_keys() {
        let events = Events::new(vec!["a".into(), "b\"c".into()], 0.0);
        let mut random = SplitMix(1);
        let (event, repeat, body) = events.body(3, &mut random);
        assert_eq!((event, repeat), (3, false));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["routing_key"], "b\"c");
        assert_eq!(body["dedup_key"], format!("{}-3", events.run()));
        assert_eq!(body["event_action"], "trigger");
        assert!(
            body["payload"]["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("{}-3", events.run()))
        );
    }

    #[test]
    fn repeats_reuse_an_earlier_event_with_its_routing_key() {
        let events = Events::new(vec!["a".into(), "b".into(), "c".into()], 0.5);
        let mut random = SplitMix(7);
        let mut repeats = 0;
        for slot in 0..1_000 {
            let (event, repeat, body) = events.body(slot, &mut random);
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let keys = ["a", "b", "c"];
            assert_eq!(body["routing_key"], keys[(event % 3) as usize]);
            if repeat {
                repeats += 1;
                assert!(event < slot);
            } else {
                assert_eq!(event, slot);
            }
        }
        assert!((400..600).contains(&repeats), "{repeats}");
    }
}
