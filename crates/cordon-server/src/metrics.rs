//! Prometheus metrics, served on their own listener. Labels are bounded: the route template
//! (never the raw path, so no incident id or codename reaches a label), the method and the
//! status code. Incident counts cover operational incidents only: a security incident is
//! absent from metrics as it is from everything else.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((route.to_owned(), method.to_owned(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let histogram = latency.entry((route.to_owned(), method.to_owned())).or_default();
            if histogram.buckets.is_empty() {
                histogram.buckets = vec![0; BUCKETS.len()];
            }
            let seconds = elapsed.as_secs_f64();
            for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= *bound {
                    *bucket += 1;
                }
            }
            histogram.sum += seconds;
            histogram.count += 1;
        }
    }

    /// The text exposition format. `incidents` are (status, count) for operational incidents.
    pub fn render(&self, incidents: &[(String, u64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cordon_http_requests_total HTTP requests by route template, method and status."
        );
        let _ = writeln!(out, "# TYPE cordon_http_requests_total counter");
        if let Ok(requests) = self.requests.lock() {
            for ((route, method, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "cordon_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cordon_http_request_duration_seconds HTTP request latency by route template and method."
        );
        let _ = writeln!(out, "# TYPE cordon_http_request_duration_seconds histogram");
        if let Ok(latency) = self.latency.lock() {
            for ((route, method), histogram) in latency.iter() {
                let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
                for (bound, count) in BUCKETS.iter().zip(&histogram.buckets) {
                    let _ = writeln!(
                        out,
                        "cordon_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "cordon_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "cordon_http_request_duration_seconds_sum{{{labels}}} {}",
                    histogram.sum
                );
                let _ = writeln!(
                    out,
                    "cordon_http_request_duration_seconds_count{{{labels}}} {}",
                    histogram.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP cordon_operational_incidents Operational incidents by status (security incidents are never counted)."
        );
        let _ = writeln!(out, "# TYPE cordon_operational_incidents gauge");
        for (status, count) in incidents {
            let _ = writeln!(
                out,
                "cordon_operational_incidents{{status=\"{}\"}} {count}",
                escape(status)
            );
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
