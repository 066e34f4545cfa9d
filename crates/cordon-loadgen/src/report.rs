//! What a run prints: percentiles, a human summary and one JSON line.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::load::{Outcome, Pacing};
use crate::receive::NotifyOutcome;

/// Percentiles of a set of microsecond latencies, by nearest rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(micros: &[u64]) -> Option<Percentiles> {
        let mut sorted = micros.to_vec();
        sorted.sort_unstable();
        let rank = |fraction: f64| {
            let index = (fraction * sorted.len() as f64).ceil() as usize;
            sorted.get(index.saturating_sub(1)).copied().unwrap_or(0)
        };
        Some(Percentiles {
            count: sorted.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            p999: rank(0.999),
            max: *sorted.last()?,
        })
    }

    fn json(&self) -> Value {
        json!({"p50": ms(self.p50), "p99": ms(self.p99), "p999": ms(self.p999), "max": ms(self.max)})
    }

    fn human(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

/// Milliseconds, to the hundredth.
fn ms(micros: u64) -> f64 {
    (micros as f64 / 10.0).round() / 100.0
}

/// Everything one `load` run reports.
pub struct LoadSummary<'a> {
    pub label: &'a str,
    pub connections: usize,
    pub duration: f64,
    pub rate: Option<f64>,
    pub repeat_fraction: f64,
    pub outcome: &'a Outcome,
    pub notify: Option<&'a NotifyOutcome>,
    /// CPU the load generator used while sending (user and system).
    pub cpu_seconds: Option<f64>,
}

impl LoadSummary<'_> {
    fn accepted_per_second(&self) -> f64 {
        let seconds = self.outcome.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.outcome.accepted_count() as f64 / seconds
        } else {
            0.0
        }
    }

    fn mode(&self) -> &'static str {
        match self.pacing() {
            Pacing::Closed => "closed",
            Pacing::Open { .. } => "open",
        }
    }

    fn pacing(&self) -> Pacing {
        self.rate.map_or(Pacing::Closed, |rate| Pacing::Open { rate })
    }

    pub fn human(&self) -> String {
        let outcome = self.outcome;
        let mut text = String::new();
        let pacing = match self.rate {
            Some(rate) => format!("open loop at {rate} events/s (latency from each event's due time)"),
            None => "closed loop (latency from send)".to_owned(),
        };
        let _ = writeln!(
            text,
            "{}: {pacing}, {} connections, {} s, {:.0}% repeats",
            self.label,
            self.connections,
            self.duration,
            self.repeat_fraction * 100.0
        );
        let _ = writeln!(
            text,
            "  accepted {} of {} events in {:.2} s: {:.0} events/s",
            outcome.accepted_count(),
            outcome.sent,
            outcome.elapsed.as_secs_f64(),
            self.accepted_per_second()
        );
        if let Some(latency) = Percentiles::of(&outcome.accepted_micros) {
            let _ = writeln!(text, "  acceptance latency: {}", latency.human());
        }
        let refused: Vec<String> = outcome
            .statuses
            .iter()
            .filter(|(status, _)| **status != 202)
            .map(|(status, count)| format!("{count} × {status}"))
            .collect();
        if !refused.is_empty() || outcome.errors > 0 {
            let _ = writeln!(
                text,
                "  not accepted: {}; {} without an answer",
                if refused.is_empty() {
                    "none".to_owned()
                } else {
                    refused.join(", ")
                },
                outcome.errors
            );
        }
        if let Some(notify) = self.notify {
            let _ = writeln!(
                text,
                "  pages: {} of {} new events named in {} webhooks, the last {:.2} s after sending ended",
                notify.paged(),
                notify.expected,
                notify.webhooks,
                notify.waited.as_secs_f64()
            );
            if let Some(latency) = Percentiles::of(&notify.micros) {
                let _ = writeln!(text, "  202 to page at the receiver: {}", latency.human());
            }
        }
        if let Some(cpu) = self.cpu_seconds {
            let _ = writeln!(text, "  load generator CPU: {cpu:.2} s");
        }
        text
    }

    pub fn json(&self) -> Value {
        let outcome = self.outcome;
        let statuses: serde_json::Map<String, Value> = outcome
            .statuses
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect();
        let mut line = json!({
            "label": self.label,
            "mode": self.mode(),
            "connections": self.connections,
            "duration_s": self.duration,
            "rate": self.rate,
            "repeat_fraction": self.repeat_fraction,
            "sent": outcome.sent,
            "accepted": outcome.accepted_count(),
            "elapsed_s": outcome.elapsed.as_secs_f64(),
            "accepted_per_s": self.accepted_per_second().round(),
            "statuses": statuses,
            "errors": outcome.errors,
            "latency_ms": Percentiles::of(&outcome.accepted_micros).map(|p| p.json()),
            "loadgen_cpu_s": self.cpu_seconds,
        });
        if let Some(notify) = self.notify {
            line["notify"] = json!({
                "expected": notify.expected,
                "paged": notify.paged(),
                "webhooks": notify.webhooks,
                "last_page_after_s": notify.waited.as_secs_f64(),
                "latency_ms": Percentiles::of(&notify.micros).map(|p| p.json()),
            });
        }
        line
    }
}

/// CPU seconds (user and system) this process has used, from `/proc/self/stat`.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th of them.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    // proc(5): in clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    Some((user + system) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let micros: Vec<u64> = (1..=1_000).collect();
        let p = Percentiles::of(&micros).unwrap();
        assert_eq!((p.count, p.p50, p.p99, p.p999, p.max), (1_000, 500, 990, 999, 1_000));
        let one = Percentiles::of(&[7]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (7, 7, 7));
        assert!(Percentiles::of(&[]).is_none());
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut spin = 0u64;
        for i in 0..1_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        assert!(process_cpu_seconds().is_some());
    }
}
