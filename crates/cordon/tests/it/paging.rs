//! Paging end to end, with real senders and receivers around real `cordon serve` processes:
//! Prometheus Alertmanager (its `webhook_configs` and `pagerduty_configs`) and the `pagerduty`
//! Python package's Events API v2 client send alerts in; an SMTP server that requires STARTTLS
//! and a local webhook receiver that checks signatures take the pages out, and the links in
//! them are followed; two nodes on one PostgreSQL page each alert exactly once; and a SIGKILL
//! in the middle of a load of events loses none that was answered 202.
//!
//! A missing outside tool (Alertmanager, Python packages, PostgreSQL) skips its test with a
//! notice, and fails it under `CI=true`: scripts/setup installs them all.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::free_port;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// How long anything the pipeline does in the background may take. The tests poll, so this
/// only matters when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

// --- Alertmanager -----------------------------------------------------------------------------

/// Alertmanager delivers to Cordon through both of its integrations, routed by a label: grouped
/// webhook notifications and PagerDuty events to a custom URL. Firing alerts open alerts with
/// the service, severity and summary they carry, its periodic re-sends count against the same
/// alert (the fingerprint, or for PagerDuty the group, is the dedup key), and resolving in
/// Alertmanager resolves in Cordon, one alert of a group at a time.
#[test]
fn alertmanager_sends_through_its_webhook_and_pagerduty_integrations() {
    let Some(binary) = alertmanager_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"), &Options::default());
    let admin = first_admin(&node);
    admin.send("PUT", "/api/v1/services/web-frontend", &json!({}));
    admin.send("PUT", "/api/v1/services/db-cluster", &json!({}));
    let webhook = admin.send(
        "POST",
        "/api/v1/services/web-frontend/integrations",
        &json!({"kind": "alertmanager"}),
    );
    let pagerduty = admin.send(
        "POST",
        "/api/v1/services/db-cluster/integrations",
        &json!({"kind": "pagerduty"}),
    );
    assert_eq!(webhook["url"], format!("{}/api/v1/intake/alertmanager", node.url));
    assert_eq!(pagerduty["url"], format!("{}/v2/enqueue", node.url));

    let config = format!(
        r#"route:
  receiver: cordon-webhook
  group_by: ['alertname']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1s
  routes:
    - receiver: cordon-pagerduty
      matchers: ['via="pagerduty"']
receivers:
  - name: cordon-webhook
    webhook_configs:
      - url: '{webhook_url}'
        send_resolved: true
        http_config:
          authorization:
            credentials: '{webhook_key}'
  - name: cordon-pagerduty
    pagerduty_configs:
      - url: '{pagerduty_url}'
        routing_key: '{pagerduty_key}'
        send_resolved: true
        severity: '{{{{ .CommonLabels.severity }}}}'
        description: '{{{{ .CommonAnnotations.summary }}}}'
        source: '{{{{ .CommonLabels.instance }}}}'
"#,
        webhook_url = text(&webhook["url"]),
        webhook_key = text(&webhook["key"]),
        pagerduty_url = text(&pagerduty["url"]),
        pagerduty_key = text(&pagerduty["key"]),
    );
    let manager = Alertmanager::start(&binary, &config);

    let web_1 = am_alert("HighErrorRate", "web-1:9100", "critical", "5xx above 10% on web-1");
    let web_2 = am_alert("HighErrorRate", "web-2:9100", "warning", "5xx above 5% on web-2");
    let mut replica = am_alert("ReplicationLag", "db-2:9187", "warning", "replica db-2 is 300 s behind");
    replica["labels"]["via"] = json!("pagerduty");
    manager.post_alerts(&json!([web_1, web_2, replica]));
    let fingerprints = manager.fingerprints();

    let alerts = eventually("three alerts from Alertmanager", PATIENCE, || {
        let items = admin.alerts();
        if items.len() >= 3 {
            Ok(items)
        } else {
            Err(format!("{items:#?}"))
        }
    });
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    let by_summary = |summary: &str| -> Value {
        let found: Vec<&Value> = alerts.iter().filter(|a| a["summary"] == summary).collect();
        assert_eq!(found.len(), 1, "one alert says {summary:?}: {alerts:#?}");
        found[0].clone()
    };
    for (summary, instance, severity) in [
        ("5xx above 10% on web-1", "web-1:9100", "critical"),
        ("5xx above 5% on web-2", "web-2:9100", "warning"),
    ] {
        let alert = by_summary(summary);
        assert_eq!(alert["service"], "web-frontend", "{alert:#}");
        assert_eq!(alert["severity"], severity, "{alert:#}");
        assert_eq!(alert["source"], instance, "{alert:#}");
        assert_eq!(alert["status"], "triggered", "{alert:#}");
        assert_eq!(
            alert["dedup_key"],
            json!(fingerprints[instance]),
            "the fingerprint is the dedup key"
        );
        assert_eq!(alert["details"]["labels"]["alertname"], "HighErrorRate", "{alert:#}");
    }
    let lag = by_summary("replica db-2 is 300 s behind");
    assert_eq!(lag["service"], "db-cluster", "{lag:#}");
    assert_eq!(lag["severity"], "warning", "{lag:#}");
    assert_eq!(lag["source"], "db-2:9187", "{lag:#}");
    assert_eq!(lag["status"], "triggered", "{lag:#}");
    assert_eq!(
        text(&lag["dedup_key"]).len(),
        64,
        "Alertmanager's hash of the group key: {lag:#}"
    );

    // Posting the same alert again, and Alertmanager's own repeats, count against the alert
    // they already opened.
    manager.post_alerts(&json!([web_1]));
    eventually("repeated notifications counted on the open alerts", PATIENCE, || {
        let items = admin.alerts();
        let counted = items.iter().all(|a| a["events"].as_u64().unwrap() >= 2);
        if counted && items.len() == 3 {
            Ok(())
        } else {
            Err(format!("{items:#?}"))
        }
    });

    // Resolve one alert of the webhook group: that notification carries it resolved beside
    // its still firing sibling.
    let resolved_at = json!(iso(SystemTime::now() - Duration::from_secs(60)));
    let mut web_2_resolved = web_2.clone();
    web_2_resolved["endsAt"] = resolved_at.clone();
    manager.post_alerts(&json!([web_2_resolved]));
    let web_2_id = text(&by_summary("5xx above 5% on web-2")["id"]).to_owned();
    let resolved = eventually("web-2 resolved", PATIENCE, || {
        let alert = admin.get(&format!("/api/v1/alerts/{web_2_id}"));
        if alert["status"] == "resolved" {
            Ok(alert)
        } else {
            Err(alert.to_string())
        }
    });
    assert_eq!(
        resolved["resolved_by"],
        format!("integration:{}", text(&webhook["id"])),
        "{resolved:#}"
    );
    let web_1_now = admin.get(&format!(
        "/api/v1/alerts/{}",
        text(&by_summary("5xx above 10% on web-1")["id"])
    ));
    assert_eq!(
        web_1_now["status"], "triggered",
        "the sibling still fires: {web_1_now:#}"
    );

    let mut web_1_resolved = web_1.clone();
    web_1_resolved["endsAt"] = resolved_at.clone();
    let mut replica_resolved = replica.clone();
    replica_resolved["endsAt"] = resolved_at;
    manager.post_alerts(&json!([web_1_resolved, replica_resolved]));
    let alerts = eventually("every alert resolved", PATIENCE, || {
        let items = admin.alerts();
        if items.iter().all(|a| a["status"] == "resolved") {
            Ok(items)
        } else {
            Err(format!("{items:#?}"))
        }
    });
    assert_eq!(alerts.len(), 3, "no re-send opened a second alert: {alerts:#?}");
    let lag = alerts.iter().find(|a| a["service"] == "db-cluster").unwrap();
    assert_eq!(
        lag["resolved_by"],
        format!("integration:{}", text(&pagerduty["id"])),
        "{lag:#}"
    );
}

fn am_alert(name: &str, instance: &str, severity: &str, summary: &str) -> Value {
    json!({
        "labels": {"alertname": name, "instance": instance, "severity": severity, "job": "node"},
        "annotations": {"summary": summary},
        "startsAt": iso(SystemTime::now() - Duration::from_secs(600)),
        "generatorURL": "http://prometheus.example.com/graph",
    })
}

/// `prometheus-alertmanager` (Debian's name) or `alertmanager` on the PATH.
fn alertmanager_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .flat_map(|dir| ["prometheus-alertmanager", "alertmanager"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    tool_available(
        "Prometheus Alertmanager (prometheus-alertmanager)",
        SETUP,
        found.is_some(),
    );
    found
}

/// Alertmanager in a child process, without clustering, killed when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start(binary: &Path, config: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("alertmanager.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let mut child = Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.path={}", dir.path().join("storage").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = drain(child.stderr.take().unwrap());
        let manager = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let ready = format!("{}/-/ready", manager.url);
        eventually("Alertmanager to be ready", PATIENCE, || {
            match try_exchange(ureq::get(&ready), Payload::Empty) {
                Ok(reply) if reply.status == 200 => Ok(()),
                other => Err(format!("{other:?}; log: {:?}", manager.log.lock().unwrap())),
            }
        });
        manager
    }

    #[track_caller]
    fn post_alerts(&self, alerts: &Value) {
        let reply = exchange(
            ureq::post(&format!("{}/api/v2/alerts", self.url)),
            Payload::Json(alerts),
        );
        assert_eq!(reply.status, 200, "Alertmanager refused the alerts: {}", reply.text);
    }

    /// Each alert's fingerprint, by its `instance` label.
    fn fingerprints(&self) -> BTreeMap<String, String> {
        let reply = exchange(ureq::get(&format!("{}/api/v2/alerts", self.url)), Payload::Empty);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| {
                (
                    text(&alert["labels"]["instance"]).to_owned(),
                    text(&alert["fingerprint"]).to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- Alertmanager's log ---\n{}", self.log.lock().unwrap().join("\n"));
        }
    }
}

// --- The pagerduty Python client ----------------------------------------------------------------

/// The `pagerduty` package's `EventsApiV2Client`, unchanged but for its base URL, drives an
/// alert through its life: a trigger without a dedup key gets the key Cordon generated, a
/// repeat counts, acknowledge and resolve act on it, and bad events get the client's own error
/// for a 400 with Cordon's list of what is wrong.
#[test]
fn the_pagerduty_python_client_triggers_acknowledges_and_resolves() {
    if !tool_available("python3 with the pagerduty package", SETUP, python_has("pagerduty")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("data"), &Options::default());
    let admin = first_admin(&node);
    admin.send("PUT", "/api/v1/services/checkout", &json!({}));
    let integration = admin.send(
        "POST",
        "/api/v1/services/checkout/integrations",
        &json!({"kind": "pagerduty"}),
    );
    let key = text(&integration["key"]).to_owned();
    let certificates = Certificates::generate();
    let front = TlsFront::start(node.addr(), &certificates);
    let mut client = PagerDutyClient::start(&format!("https://127.0.0.1:{}", front.port), &certificates.ca_pem);

    let triggered = client.command(&json!({
        "do": "trigger", "routing_key": key, "summary": "Checkout latency p99 above 2 s",
        "source": "checkout-api-4", "severity": "warning",
        "custom_details": {"p99_ms": 2450, "region": "eu-west"},
    }));
    let dedup_key = text(&triggered["dedup_key"]).to_owned();
    assert_eq!(dedup_key.len(), 32, "a generated key, as PagerDuty's: {triggered}");
    let alert = eventually("the triggered alert", PATIENCE, || {
        admin
            .alerts()
            .into_iter()
            .find(|a| a["dedup_key"] == dedup_key.as_str())
            .ok_or_else(|| "not yet".to_owned())
    });
    assert_eq!(alert["status"], "triggered", "{alert:#}");
    assert_eq!(alert["service"], "checkout", "{alert:#}");
    assert_eq!(alert["summary"], "Checkout latency p99 above 2 s", "{alert:#}");
    assert_eq!(alert["source"], "checkout-api-4", "{alert:#}");
    assert_eq!(alert["severity"], "warning", "{alert:#}");
    assert_eq!(alert["details"]["custom_details"]["p99_ms"], 2450, "{alert:#}");
    let id = text(&alert["id"]).to_owned();
    let path = format!("/api/v1/alerts/{id}");

    let repeated = client.command(&json!({
        "do": "trigger", "routing_key": key, "dedup_key": dedup_key,
        "summary": "Checkout latency p99 above 2 s", "source": "checkout-api-4", "severity": "warning",
    }));
    assert_eq!(repeated["dedup_key"], dedup_key.as_str());
    eventually("the repeat counted on the same alert", PATIENCE, || {
        let alert = admin.get(&path);
        if alert["events"] == 2 {
            Ok(())
        } else {
            Err(alert.to_string())
        }
    });

    let by = format!("integration:{}", text(&integration["id"]));
    let acknowledged = client.command(&json!({"do": "acknowledge", "routing_key": key, "dedup_key": dedup_key}));
    assert_eq!(acknowledged["dedup_key"], dedup_key.as_str());
    let alert = eventually("acknowledged", PATIENCE, || {
        let alert = admin.get(&path);
        if alert["status"] == "acknowledged" {
            Ok(alert)
        } else {
            Err(alert.to_string())
        }
    });
    assert_eq!(alert["acknowledged_by"], by.as_str(), "{alert:#}");

    let resolved = client.command(&json!({"do": "resolve", "routing_key": key, "dedup_key": dedup_key}));
    assert_eq!(resolved["dedup_key"], dedup_key.as_str());
    let alert = eventually("resolved", PATIENCE, || {
        let alert = admin.get(&path);
        if alert["status"] == "resolved" {
            Ok(alert)
        } else {
            Err(alert.to_string())
        }
    });
    assert_eq!(alert["resolved_by"], by.as_str(), "{alert:#}");

    let invalid = client.command(&json!({
        "do": "send_event", "routing_key": key, "action": "trigger",
        "payload": {"summary": " ", "source": "checkout-api-4", "severity": "catastrophic"},
    }));
    assert_eq!(invalid["error"], "HttpError", "{invalid:#}");
    assert_eq!(invalid["status"], 400, "{invalid:#}");
    assert_eq!(invalid["body"]["status"], "invalid event", "{invalid:#}");
    let problems = invalid["body"]["errors"].to_string();
    assert!(
        problems.contains("payload.summary") && problems.contains("payload.severity"),
        "each problem is named: {invalid:#}"
    );
    let unknown = client.command(&json!({
        "do": "trigger", "routing_key": "0123456789abcdef0123456789abcdef",
        "summary": "anything", "source": "anywhere", "severity": "critical",
    }));
    assert_eq!(unknown["status"], 400, "{unknown:#}");
    assert!(
        unknown["body"]["errors"].to_string().contains("integration key"),
        "{unknown:#}"
    );
    assert_eq!(admin.alerts().len(), 1, "nothing refused was stored");
}

/// The Python client in a child process, one JSON command and answer per line.
struct PagerDutyClient {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl PagerDutyClient {
    fn start(base_url: &str, ca_pem: &Path) -> PagerDutyClient {
        let mut child = Command::new("python3")
            .arg(fixture("pagerduty_events.py"))
            .arg(base_url)
            .arg(ca_pem)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        PagerDutyClient { child, input, output }
    }

    #[track_caller]
    fn command(&mut self, command: &Value) -> Value {
        writeln!(self.input, "{command}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("the client answered {line:?} to {command}"))
    }
}

impl Drop for PagerDutyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- Mail and webhooks out ----------------------------------------------------------------------

/// A page goes out by mail (through a relay that requires STARTTLS, trusted through `ca_file`)
/// and by signed webhook. The mail's acknowledge link shows a confirmation and does nothing
/// on GET; posting its form acknowledges as the person paged and ends the escalation. For a
/// security-sensitive service, mail and webhook say only the codename, severity and link.
#[test]
fn pages_go_out_by_mail_and_signed_webhook_and_their_links_acknowledge() {
    if !tool_available("python3 with aiosmtpd", SETUP, python_has("aiosmtpd")) {
        return;
    }
    let certificates = Certificates::generate();
    let smtp = SmtpSink::start(&certificates);
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cordon.toml");
    std::fs::write(
        &config,
        format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\nfrom = \"Cordon <cordon@example.com>\"\nsecurity = \"starttls\"\nca_file = {:?}\n",
            smtp.port,
            certificates.ca_pem.display().to_string()
        ),
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let node = Node::start(
        &data_dir,
        &Options {
            config: Some(&config),
            ..Options::default()
        },
    );
    let admin = first_admin(&node);
    for name in ["ana", "sam"] {
        admin.send(
            "POST",
            "/api/v1/users",
            &json!({"name": name, "role": "responder", "password": PASSWORD}),
        );
    }
    let sam = api_token(&node, "sam", "write");
    let secrets: BTreeMap<&str, String> = [
        ("ana", "ana-hook-secret"),
        ("sam", "sam-hook-secret"),
        ("bo", "bo-hook-secret"),
    ]
    .into_iter()
    .map(|(person, secret)| (person, secret.to_owned()))
    .collect();
    for (person, secret) in &secrets {
        admin.send(
            "POST",
            "/api/v1/contacts",
            &json!({"person": person, "channel": {"kind": "webhook", "url": receiver.url(person), "secret": secret}}),
        );
    }
    for person in ["ana", "sam"] {
        admin.send(
            "POST",
            "/api/v1/contacts",
            &json!({"person": person, "channel": {"kind": "email", "address": format!("{person}@example.com")}}),
        );
    }
    admin.send(
        "PUT",
        "/api/v1/schedules/security-oncall",
        &json!({"time_zone": "Europe/Berlin", "overrides": [], "layers": [{
            "name": "primary", "participants": ["sam"], "start_date": "2026-01-05",
            "handoff": "09:00", "shift": {"unit": "weeks", "count": 1},
        }]}),
    );
    admin.send(
        "PUT",
        "/api/v1/escalation-policies/security",
        &json!({"levels": [{"targets": [{"kind": "schedule", "name": "security-oncall"}], "timeout_minutes": 5}], "repeats": 1}),
    );
    admin.send(
        "PUT",
        "/api/v1/escalation-policies/payments-oncall",
        &json!({"levels": [
            {"targets": [{"kind": "person", "name": "ana"}], "timeout_minutes": 5},
            {"targets": [{"kind": "person", "name": "bo"}], "timeout_minutes": 5},
        ], "repeats": 1}),
    );
    admin.send(
        "PUT",
        "/api/v1/services/payments",
        &json!({"escalation_policy": "payments-oncall"}),
    );
    admin.send(
        "PUT",
        "/api/v1/services/secrets-store",
        &json!({"escalation_policy": "security", "security": true}),
    );
    let payments_key = integration_key(&admin, "payments", "pagerduty");
    let secrets_key = integration_key(&admin, "secrets-store", "pagerduty");

    // An operational page: everything is in it.
    enqueue(
        &node,
        &json!({"routing_key": payments_key, "event_action": "trigger", "dedup_key": "acquirer-502",
            "payload": {"summary": "Card payments failing: 502 from acquirer", "source": "pay-gw-3", "severity": "critical"}}),
    );
    let mail = eventually("the mail to ana", PATIENCE, || smtp.mail_to("ana@example.com"));
    assert_eq!(mail["tls"], true, "delivered after STARTTLS: {mail:#}");
    assert_eq!(mail["mail_from"], "cordon@example.com");
    assert_eq!(mail["subject"], "[SEV-1] Card payments failing: 502 from acquirer");
    let mail_text = text(&mail["text"]).replace("\r\n", "\n");
    for expected in [
        "Service: payments",
        "Source: pay-gw-3",
        "Card payments failing: 502 from acquirer",
    ] {
        assert!(
            mail_text.contains(expected),
            "{expected:?} missing from the mail:\n{mail_text}"
        );
    }
    let acknowledge = link_after(&mail_text, "Acknowledge: ");
    assert!(acknowledge.starts_with(&format!("{}/page/", node.url)), "{mail_text}");
    assert!(link_after(&mail_text, "Resolve: ").starts_with(&format!("{}/page/", node.url)));
    assert!(text(&mail["html"]).contains(&format!("<a href=\"{acknowledge}\">Acknowledge</a>")));

    let hook = eventually("ana's webhook", PATIENCE, || receiver.one_to("ana"));
    let body = verified(&hook, &secrets["ana"]);
    assert_eq!(body["version"], 1, "{body:#}");
    assert_eq!(body["subject"], "[SEV-1] Card payments failing: 502 from acquirer");
    assert!(text(&body["text"]).contains("Source: pay-gw-3"), "{body:#}");
    assert_eq!(body["actions"][0]["action"], "acknowledge", "{body:#}");
    assert!(
        cordon_notify::verify_webhook_signature(
            &cordon_notify::Secret::new("not-the-secret"),
            &hook.signature,
            &hook.body,
            unix_now(),
            Duration::from_secs(300),
        )
        .is_err(),
        "the signature depends on the secret"
    );

    let alert = admin
        .alerts()
        .into_iter()
        .find(|a| a["dedup_key"] == "acquirer-502")
        .unwrap();
    let alert_path = format!("/api/v1/alerts/{}", text(&alert["id"]));
    let pages = eventually("both of ana's pages recorded as sent", PATIENCE, || {
        let view = admin.get(&alert_path);
        let pages = view["pages"].as_array().unwrap().clone();
        if pages.len() == 2 && pages.iter().all(|p| p["status"] == "sent") {
            Ok(pages)
        } else {
            Err(view.to_string())
        }
    });
    assert!(
        pages.iter().all(|p| p["person"] == "ana" && p["level"] == 1),
        "{pages:#?}"
    );

    // The link: a confirmation on GET, the action only on a POST of its form.
    let confirmation = exchange(ureq::get(&acknowledge), Payload::Empty);
    assert_eq!(confirmation.status, 200, "{}", confirmation.text);
    assert!(
        confirmation.text.contains("This link was sent to <strong>ana</strong>"),
        "{}",
        confirmation.text
    );
    assert!(
        !confirmation.text.contains("Card payments"),
        "the confirmation names no alert"
    );
    assert_eq!(admin.get(&alert_path)["status"], "triggered", "a GET changes nothing");
    assert_eq!(
        escalation_done(&data_dir, text(&alert["id"])),
        Some(false),
        "level 2 (bo) is due in five minutes"
    );
    let acknowledged = follow_link(&acknowledge, &confirmation);
    assert!(
        acknowledged.contains("Acknowledged 1 alert(s). Escalation stopped."),
        "{acknowledged}"
    );
    let view = admin.get(&alert_path);
    assert_eq!(view["status"], "acknowledged", "{view:#}");
    assert_eq!(
        view["acknowledged_by"], "ana",
        "the link acts as the person it was sent to"
    );
    assert_eq!(
        escalation_done(&data_dir, text(&alert["id"])),
        Some(true),
        "acknowledging ends the escalation before level 2 (bo) is due"
    );
    assert_eq!(view["pages"].as_array().unwrap().len(), 2, "{view:#}");
    let again = exchange(ureq::get(&acknowledge), Payload::Empty);
    assert!(follow_link(&acknowledge, &again).contains("Nothing to do"));

    // A security page: codename, severity and link, nothing of the alert.
    let summary = "Unusual secret reads from vault-2: possible exfiltration of signing keys";
    enqueue(
        &node,
        &json!({"routing_key": secrets_key, "event_action": "trigger", "dedup_key": "vault-reads",
            "payload": {"summary": summary, "source": "vault-audit-7", "severity": "critical"}}),
    );
    let mail = eventually("the mail to sam", PATIENCE, || smtp.mail_to("sam@example.com"));
    let subject = text(&mail["subject"]).to_owned();
    let codename = subject
        .strip_prefix("[SEV-1] ")
        .unwrap_or_else(|| panic!("{subject}"))
        .to_owned();
    let mail_text = text(&mail["text"]).replace("\r\n", "\n");
    let acknowledge = link_after(&mail_text, "Acknowledge: ");
    let resolve = link_after(&mail_text, "Resolve: ");
    assert_eq!(
        mail_text.trim_end(),
        format!(
            "[SEV-1] {codename}\nOpen: {}/incidents/{codename}\n\nAcknowledge: {acknowledge}\nResolve: {resolve}",
            node.url
        ),
        "a security page says the codename, severity and link, and nothing else"
    );
    let hook = eventually("sam's webhook", PATIENCE, || receiver.one_to("sam"));
    let body = verified(&hook, &secrets["sam"]);
    assert_eq!(body["subject"], subject.as_str());
    for message in [mail.to_string(), String::from_utf8(hook.body.clone()).unwrap()] {
        for secret_word in [
            "Unusual secret reads",
            "exfiltration",
            "signing keys",
            "vault-2",
            "vault-audit-7",
            "secrets-store",
        ] {
            assert!(!message.contains(secret_word), "{secret_word:?} leaked into {message}");
        }
        assert!(message.contains(&codename) && message.contains(&format!("/incidents/{codename}")));
    }

    // Only the incident's members see the alert: sam, paged, was made one; the admin was not.
    let hidden = admin.alerts();
    assert!(hidden.iter().all(|a| a["dedup_key"] != "vault-reads"), "{hidden:#?}");
    let seen = sam
        .alerts()
        .into_iter()
        .find(|a| a["dedup_key"] == "vault-reads")
        .expect("sam sees the alert he was paged for");
    assert_eq!(seen["summary"], summary);
    let incident = sam.get(&format!("/api/v1/incidents/{}", text(&seen["incident"])));
    assert_eq!(incident["codename"], codename.as_str(), "{incident:#}");
    let security_path = format!("/api/v1/alerts/{}", text(&seen["id"]));
    assert_eq!(admin.call("GET", &security_path, None).status, 404);

    assert_eq!(
        escalation_done(&data_dir, text(&seen["id"])),
        Some(false),
        "round 2 is due"
    );
    let confirmation = exchange(ureq::get(&acknowledge), Payload::Empty);
    assert_eq!(sam.get(&security_path)["status"], "triggered", "a GET changes nothing");
    assert!(follow_link(&acknowledge, &confirmation).contains("Acknowledged 1 alert(s)."));
    let view = sam.get(&security_path);
    assert_eq!(
        (&view["status"], &view["acknowledged_by"]),
        (&json!("acknowledged"), &json!("sam"))
    );
    assert_eq!(escalation_done(&data_dir, text(&seen["id"])), Some(true));
    assert!(
        receiver.deliveries().iter().all(|d| d.hook != "bo"),
        "level 2 never paged"
    );
}

/// The URL that follows `label` on a line of a plain-text page.
#[track_caller]
fn link_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
        .trim()
        .to_owned()
}

/// Posts a link's confirmation form as a browser would, and returns the page it answers.
/// The form needs its CSRF token and the form cookie the confirmation set; without the cookie
/// it is refused.
#[track_caller]
fn follow_link(link: &str, confirmation: &Reply) -> String {
    let csrf = confirmation
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF field in {}", confirmation.text))
        .to_owned();
    let refused = exchange(ureq::post(link), Payload::Form(&[("csrf_token", &csrf)]));
    assert_eq!(
        refused.status, 403,
        "a form post without the form cookie: {}",
        refused.text
    );
    let cookie = confirmation
        .set_cookie
        .iter()
        .find(|c| c.starts_with("cordon_form="))
        .unwrap_or_else(|| panic!("the confirmation set no form cookie: {:?}", confirmation.set_cookie))
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let done = exchange(
        ureq::post(link).set("cookie", &cookie),
        Payload::Form(&[("csrf_token", &csrf)]),
    );
    assert_eq!(done.status, 200, "{}", done.text);
    done.text
}

/// Whether the alert's escalation timer has ended, read from the SQLite file the server
/// writes (the API shows pages, not timers).
fn escalation_done(data_dir: &Path, alert: &str) -> Option<bool> {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", data_dir.join("cordon.db").display());
    runtime().block_on(async {
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, bool>("SELECT done FROM escalations WHERE alert_id = ?")
            .bind(alert)
            .fetch_optional(&mut db)
            .await
            .unwrap()
    })
}

/// The SMTP relay: cordon-notify's aiosmtpd test server, in its STARTTLS-required mode, in a
/// child process.
struct SmtpSink {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start(certificates: &Certificates) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../cordon-notify/tests/it/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--mode", "starttls", "--maildir"])
            .arg(dir.path())
            .arg("--cert")
            .arg(&certificates.server_pem)
            .arg("--key")
            .arg(&certificates.server_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let Ok(port) = first.trim().parse() else {
            let _ = child.kill();
            panic!("the SMTP server did not start: {first:?}");
        };
        SmtpSink { port, child, dir }
    }

    /// The one mail delivered to `address`, once it is there.
    fn mail_to(&self, address: &str) -> Result<Value, String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        let mails: Vec<Value> = paths
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .filter(|mail: &Value| mail["rcpt_tos"] == json!([address]))
            .collect();
        match mails.as_slice() {
            [mail] => Ok(mail.clone()),
            [] => Err(format!("no mail to {address} yet")),
            more => panic!("{} mails to {address}, expected one: {more:#?}", more.len()),
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- Two nodes on one PostgreSQL ----------------------------------------------------------------

/// Two `cordon serve` processes share one PostgreSQL database and the signing key. Alerts
/// arrive at both; both process, escalate and dispatch concurrently. Each alert pages its
/// on-call person exactly once: one page recorded, and one signed delivery that names it.
#[test]
fn two_nodes_on_one_postgres_page_each_alert_exactly_once() {
    const PEOPLE: usize = 100;
    const ALERTS: usize = 200;
    let Some(database) = FreshDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        database: Some(&database.url),
        ..Options::default()
    };
    let first = Node::start(&dir.path().join("node-a"), &options);
    let admin = first_admin(&first);
    std::fs::create_dir(dir.path().join("node-b")).unwrap();
    std::fs::copy(
        dir.path().join("node-a/signing.key"),
        dir.path().join("node-b/signing.key"),
    )
    .unwrap();
    let second = Node::start(&dir.path().join("node-b"), &options);
    let nodes = [&first, &second];
    let receiver = Receiver::start();

    // One service, policy, person and webhook per person, so that no person gets more pages
    // than the per-person throttle lets through at once (2 alerts each, at most 2 messages).
    let people: Vec<String> = (0..PEOPLE).map(|n| format!("p{n:03}")).collect();
    let keys: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = people
            .chunks(PEOPLE / 4)
            .enumerate()
            .map(|(worker, chunk)| {
                let api = admin.on(nodes[worker % 2]);
                let receiver = &receiver;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|person| {
                            api.send(
                                "POST",
                                "/api/v1/contacts",
                                &json!({"person": person, "channel": {"kind": "webhook", "url": receiver.url(person), "secret": format!("secret-of-{person}")}}),
                            );
                            api.send(
                                "PUT",
                                &format!("/api/v1/escalation-policies/{person}-oncall"),
                                &json!({"levels": [
                                    {"targets": [{"kind": "person", "name": person}], "timeout_minutes": 5},
                                    {"targets": [{"kind": "person", "name": "backstop"}], "timeout_minutes": 5},
                                ]}),
                            );
                            api.send(
                                "PUT",
                                &format!("/api/v1/services/{person}-svc"),
                                &json!({"escalation_policy": format!("{person}-oncall")}),
                            );
                            integration_key(&api, &format!("{person}-svc"), "pagerduty")
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().unwrap()).collect()
    });

    // Alert n belongs to person n % PEOPLE and goes to node n % 2, from eight clients at once.
    std::thread::scope(|scope| {
        for client in 0..8 {
            let keys = &keys;
            scope.spawn(move || {
                for n in (client..ALERTS).step_by(8) {
                    enqueue(
                        nodes[n % 2],
                        &json!({"routing_key": keys[n % PEOPLE], "event_action": "trigger", "dedup_key": format!("storm-{n}"),
                            "payload": {"summary": format!("Queue depth above limit on shard {n}"), "source": format!("shard-{n}"), "severity": "error"}}),
                    );
                }
            });
        }
    });

    let alerts = eventually("all alerts stored", PATIENCE, || {
        let items = admin.alerts();
        if items.len() >= ALERTS {
            Ok(items)
        } else {
            Err(format!("{} alerts", items.len()))
        }
    });
    let dedup_keys: BTreeSet<&str> = alerts.iter().map(|a| text(&a["dedup_key"])).collect();
    assert_eq!(
        (alerts.len(), dedup_keys.len()),
        (ALERTS, ALERTS),
        "one alert per dedup key"
    );
    let person_of: BTreeMap<String, String> = alerts
        .iter()
        .map(|a| {
            let service = text(&a["service"]);
            (text(&a["id"]).to_owned(), service.trim_end_matches("-svc").to_owned())
        })
        .collect();

    // Every alert named in exactly one delivery, at its person's hook, correctly signed.
    let deliveries = eventually("a delivery for every alert", PATIENCE, || {
        let deliveries = receiver.deliveries();
        let named: usize = deliveries.iter().map(|d| alert_ids(&d.body).len()).sum();
        if named >= ALERTS {
            Ok(deliveries)
        } else {
            Err(format!("{named} alerts delivered"))
        }
    });
    let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for delivery in &deliveries {
        verified(delivery, &format!("secret-of-{}", delivery.hook));
        for id in alert_ids(&delivery.body) {
            delivered.entry(id).or_default().push(delivery.hook.clone());
        }
    }
    for (id, person) in &person_of {
        assert_eq!(
            delivered.get(id),
            Some(&vec![person.clone()]),
            "alert {id} is delivered once, to {person}"
        );
    }
    assert_eq!(delivered.len(), ALERTS, "no delivery names an unknown alert");

    // And the store agrees, asked through either node: one page per alert.
    for (index, (id, person)) in person_of.iter().enumerate() {
        let api = admin.on(nodes[index % 2]);
        let view = api.get(&format!("/api/v1/alerts/{id}"));
        let pages = view["pages"].as_array().unwrap();
        assert_eq!(pages.len(), 1, "exactly one page: {view:#}");
        assert_eq!(
            (&pages[0]["person"], &pages[0]["level"]),
            (&json!(person), &json!(1)),
            "{view:#}"
        );
        assert!(["sent", "bundled"].contains(&text(&pages[0]["status"])), "{view:#}");
    }
    let turns: Vec<usize> = nodes
        .iter()
        .map(|node| node.log_count("paged escalation steps"))
        .collect();
    eprintln!("escalation turns that paged, by node: {turns:?}");
}

/// The alert ids a webhook body names in its `Open:` links.
fn alert_ids(body: &[u8]) -> Vec<String> {
    let body: Value = serde_json::from_slice(body).unwrap();
    text(&body["text"])
        .split("/alerts/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect()
        })
        .collect()
}

// --- SIGKILL in the middle of a load -------------------------------------------------------------

#[test]
fn a_sigkill_mid_load_loses_no_accepted_event_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_mid_load_and_check(&dir.path().join("data"), None);
}

#[test]
fn a_sigkill_mid_load_loses_no_accepted_event_on_postgres() {
    let Some(database) = FreshDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    kill_mid_load_and_check(&dir.path().join("data"), Some(&database.url));
}

/// Eight clients send triggers with unique dedup keys; the server is killed with SIGKILL while
/// they do; after a restart on the same data, every key that was answered 202 is an alert.
fn kill_mid_load_and_check(data_dir: &Path, database: Option<&str>) {
    const CLIENTS: usize = 8;
    /// Together under the API's page size of 1,000 alerts, so one listing shows them all.
    const EVENTS_PER_CLIENT: usize = 120;
    let options = Options {
        database,
        ..Options::default()
    };
    let mut node = Node::start(data_dir, &options);
    let admin = first_admin(&node);
    admin.send("PUT", "/api/v1/services/load", &json!({}));
    let integration = admin.send(
        "POST",
        "/api/v1/services/load/integrations",
        &json!({"kind": "pagerduty", "rate_per_minute": 1_000_000}),
    );
    let key = text(&integration["key"]).to_owned();

    let accepted = Mutex::new(Vec::new());
    let cut_off = AtomicUsize::new(0);
    let attempts = AtomicUsize::new(0);
    let url = format!("{}/v2/enqueue", node.url);
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (accepted, cut_off, attempts, url, key) = (&accepted, &cut_off, &attempts, &url, &key);
            scope.spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
                for n in 0..EVENTS_PER_CLIENT {
                    let dedup_key = format!("load-{client}-{n}");
                    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key,
                        "payload": {"summary": "load", "source": "load-test", "severity": "info"}});
                    attempts.fetch_add(1, Ordering::SeqCst);
                    match try_exchange(agent.post(url), Payload::Json(&event)) {
                        Ok(reply) if reply.status == 202 => {
                            assert_eq!(reply.json()["dedup_key"], dedup_key.as_str());
                            accepted.lock().unwrap().push(dedup_key);
                        }
                        // "Not stored, retry later" is an honest answer under load.
                        Ok(reply) if reply.status == 429 || reply.status == 503 => {}
                        Ok(reply) => panic!("event {dedup_key} answered {}: {}", reply.status, reply.text),
                        Err(_) => {
                            // The server is gone: this client's load ends here.
                            cut_off.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                    // A steady load rather than a burst, so that the kill lands in the middle.
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        let started = Instant::now();
        eventually("the load under way", PATIENCE, || {
            let count = accepted.lock().unwrap().len();
            if count >= 100 && started.elapsed() >= Duration::from_secs(1) {
                Ok(())
            } else {
                Err(format!("{count} accepted"))
            }
        });
        node.kill();
    });
    let accepted = accepted.into_inner().unwrap();
    assert!(
        cut_off.load(Ordering::SeqCst) > 0,
        "the kill should interrupt the load ({} of {} events sent)",
        attempts.load(Ordering::SeqCst),
        CLIENTS * EVENTS_PER_CLIENT
    );

    let restarted = Node::start(data_dir, &options);
    let admin = admin.on(&restarted);
    let stored = eventually("every accepted event as an alert after the restart", PATIENCE, || {
        let alerts = admin.alerts();
        let keys: BTreeSet<String> = alerts.iter().map(|a| text(&a["dedup_key"]).to_owned()).collect();
        let missing: Vec<&String> = accepted.iter().filter(|k| !keys.contains(*k)).collect();
        if missing.is_empty() {
            Ok(alerts)
        } else {
            Err(format!(
                "{} of {} accepted keys missing, e.g. {:?}",
                missing.len(),
                accepted.len(),
                &missing[..missing.len().min(5)]
            ))
        }
    });
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for alert in &stored {
        *per_key.entry(text(&alert["dedup_key"])).or_default() += 1;
    }
    assert!(per_key.values().all(|&n| n == 1), "one alert per key");
    assert!(
        stored.len() <= attempts.load(Ordering::SeqCst),
        "no alert without an event"
    );
    eprintln!(
        "SIGKILL: {} events answered 202, {} alerts after the restart",
        accepted.len(),
        stored.len()
    );
}

// --- The harness --------------------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/paging").join(name)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether an outside tool a test needs is there. Outside CI a missing tool skips the test
/// with a notice; under `CI=true` it fails it. `remedy` says what provides the tool.
fn tool_available(what: &str, remedy: &str, present: bool) -> bool {
    if !present {
        assert!(
            !in_ci(),
            "CI=true but {what} is missing: the paging tests must run in CI ({remedy})"
        );
        eprintln!("notice: {what} is missing; skipping this paging test ({remedy})");
    }
    present
}

const SETUP: &str = "scripts/setup installs it";

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Calls `check` until it succeeds, and fails with its last complaint after `deadline`.
#[track_caller]
fn eventually<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if started.elapsed() > deadline => {
                panic!("gave up after {deadline:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[track_caller]
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// RFC 3339 in UTC, as Alertmanager's API takes it.
fn iso(at: SystemTime) -> String {
    let seconds = i64::try_from(at.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    jiff::Timestamp::from_second(seconds).unwrap().to_string()
}

/// One tokio runtime for everything the tests serve in-process: the webhook receiver and the
/// TLS terminator.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Collects a child's stderr lines in the background.
fn drain(stderr: std::process::ChildStderr) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    log
}

#[derive(Default)]
struct Options<'a> {
    /// A PostgreSQL URL; SQLite in the data directory otherwise.
    database: Option<&'a str>,
    /// A configuration file (`--config`).
    config: Option<&'a Path>,
}

/// `cordon serve` in a child process on free ports, killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    url: String,
    setup_token: Option<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn start(data_dir: &Path, options: &Options) -> Node {
        let (port, metrics_port) = (free_port(), free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_cordon"));
        command.arg("--data-dir").arg(data_dir);
        if let Some(url) = options.database {
            command.args(["--database", url]);
        }
        command.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ]);
        if let Some(config) = options.config {
            command.arg("--config").arg(config);
        }
        for inherited in [
            "CORDON_DATABASE_URL",
            "CORDON_DATA_DIR",
            "CORDON_PUBLIC_URL",
            "CORDON_LISTEN",
            "CORDON_METRICS_LISTEN",
            "CORDON_SMTP_PASSWORD",
        ] {
            command.env_remove(inherited);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut setup_token = None;
        let mut early = Vec::new();
        loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cordon serve stopped before serving:\n{}", early.join("\n"));
            };
            if let Some(at) = line.find("token=cdn_setup_") {
                setup_token = line[at + 6..].split_whitespace().next().map(str::to_owned);
            }
            let serving = line.starts_with("cordon serving on");
            early.push(line);
            if serving {
                break;
            }
        }
        let log = Arc::new(Mutex::new(early));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Node {
            child,
            url: format!("http://127.0.0.1:{port}"),
            setup_token,
            log,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// SIGKILL: no shutdown, no flushing, as a crash or the OOM killer would.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log.lock().unwrap();
            let tail = &log[log.len().saturating_sub(60)..];
            eprintln!("--- the last lines of {}'s log ---\n{}", self.url, tail.join("\n"));
        }
    }
}

/// A database of its own on the test cluster, dropped at the end.
struct FreshDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl FreshDatabase {
    /// `None` (with a notice) when there is no test cluster outside CI.
    fn create() -> Option<FreshDatabase> {
        use sqlx::Connection;
        let admin_url = match std::env::var("CORDON_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                tool_available(
                    "PostgreSQL (CORDON_TEST_POSTGRES_URL)",
                    "scripts/test starts a throwaway cluster and sets it",
                    false,
                );
                return None;
            }
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!(
            "cordon_paging_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        runtime().block_on(async {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
        });
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Some(FreshDatabase {
            url: format!("{base}/{name}"),
            admin_url: admin_url.clone(),
            name,
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        use sqlx::Connection;
        runtime().block_on(async {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
                let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                let _ = sqlx::query(&drop).execute(&mut admin).await;
            }
        });
    }
}

// --- HTTP ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    set_cookie: Vec<String>,
    text: String,
}

impl Reply {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }
}

enum Payload<'a> {
    Empty,
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// Sends a request and returns the answer whatever its status; `Err` only when no answer came.
fn try_exchange(request: ureq::Request, payload: Payload) -> Result<Reply, String> {
    let request = request.timeout(Duration::from_secs(30));
    let result = match payload {
        Payload::Empty => request.call(),
        Payload::Json(body) => request.send_json(body.clone()),
        Payload::Form(fields) => request.send_form(fields),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(transport)) => return Err(transport.to_string()),
    };
    let status = response.status();
    let set_cookie = response.all("set-cookie").into_iter().map(str::to_owned).collect();
    let text = response.into_string().map_err(|err| err.to_string())?;
    Ok(Reply {
        status,
        set_cookie,
        text,
    })
}

#[track_caller]
fn exchange(request: ureq::Request, payload: Payload) -> Reply {
    let url = request.url().to_owned();
    try_exchange(request, payload).unwrap_or_else(|err| panic!("{url}: {err}"))
}

/// A client of the JSON API with a bearer token.
#[derive(Clone)]
struct Api {
    base: String,
    token: String,
}

impl Api {
    /// The same token, against another node.
    fn on(&self, node: &Node) -> Api {
        Api {
            base: node.url.clone(),
            token: self.token.clone(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let request = ureq::request(method, &format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {}", self.token));
        exchange(request, body.map_or(Payload::Empty, Payload::Json))
    }

    #[track_caller]
    fn get(&self, path: &str) -> Value {
        let reply = self.call("GET", path, None);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
        reply.json()
    }

    #[track_caller]
    fn send(&self, method: &str, path: &str, body: &Value) -> Value {
        let reply = self.call(method, path, Some(body));
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path}: {} {}",
            reply.status,
            reply.text
        );
        reply.json()
    }

    /// Every alert this token's owner may see, most recent first.
    #[track_caller]
    fn alerts(&self) -> Vec<Value> {
        self.get("/api/v1/alerts?limit=1000")["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Creates the first administrator with the setup token the node printed, and returns an
/// admin-scoped API token of theirs.
fn first_admin(node: &Node) -> Api {
    let token = node.setup_token.clone().expect("the server printed a setup link");
    let created = exchange(
        ureq::post(&format!("{}/api/v1/setup", node.url)),
        Payload::Json(&json!({"token": token, "name": "root", "password": PASSWORD})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    api_token(node, "root", "admin")
}

/// Signs `name` in and mints an API token with `scope`.
fn api_token(node: &Node, name: &str, scope: &str) -> Api {
    let login = exchange(
        ureq::post(&format!("{}/api/v1/session", node.url)),
        Payload::Json(&json!({"name": name, "password": PASSWORD})),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    let cookie = login.set_cookie[0].split(';').next().unwrap().to_owned();
    let csrf = text(&login.json()["csrf_token"]).to_owned();
    let minted = exchange(
        ureq::post(&format!("{}/api/v1/tokens", node.url))
            .set("cookie", &cookie)
            .set("x-csrf-token", &csrf),
        Payload::Json(&json!({"label": "paging tests", "scope": scope})),
    );
    assert!(minted.status == 200 || minted.status == 201, "{}", minted.text);
    Api {
        base: node.url.clone(),
        token: text(&minted.json()["token"]).to_owned(),
    }
}

/// Adds an integration of `kind` to `service` and returns its key.
fn integration_key(api: &Api, service: &str, kind: &str) -> String {
    let created = api.send(
        "POST",
        &format!("/api/v1/services/{service}/integrations"),
        &json!({"kind": kind}),
    );
    text(&created["key"]).to_owned()
}

/// Sends a PagerDuty event to the node, which must accept it.
#[track_caller]
fn enqueue(node: &Node, event: &Value) {
    let reply = exchange(ureq::post(&format!("{}/v2/enqueue", node.url)), Payload::Json(event));
    assert_eq!(reply.status, 202, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        (&body["status"], &body["message"]),
        (&json!("success"), &json!("Event processed"))
    );
}

// --- Receivers and TLS ---------------------------------------------------------------------------

/// One request the webhook receiver took.
#[derive(Debug, Clone)]
struct Delivery {
    /// The last path segment: whose hook it is.
    hook: String,
    signature: String,
    body: Vec<u8>,
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// A webhook receiver on a free port: `POST /hooks/{name}` is recorded and answered 204.
struct Receiver {
    port: u16,
    deliveries: Deliveries,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    fn start() -> Receiver {
        use axum::routing::post;
        let deliveries = Deliveries::default();
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/hooks/{hook}", post(take_delivery))
            .with_state(Arc::clone(&deliveries));
        let task = runtime().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, deliveries, task }
    }

    fn url(&self, hook: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/{hook}", self.port)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The one delivery to `hook`, once it is there.
    fn one_to(&self, hook: &str) -> Result<Delivery, String> {
        let found: Vec<Delivery> = self.deliveries().into_iter().filter(|d| d.hook == hook).collect();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("nothing delivered to {hook} yet")),
            more => panic!("{} deliveries to {hook}, expected one: {more:?}", more.len()),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take_delivery(
    axum::extract::State(deliveries): axum::extract::State<Deliveries>,
    axum::extract::Path(hook): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let signature = headers
        .get(cordon_notify::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    deliveries.lock().unwrap().push(Delivery {
        hook,
        signature,
        body: body.to_vec(),
    });
    axum::http::StatusCode::NO_CONTENT
}

/// Checks a delivery's `X-Cordon-Signature` under `secret` as a receiver must, and returns
/// its JSON body.
#[track_caller]
fn verified(delivery: &Delivery, secret: &str) -> Value {
    let checked = cordon_notify::verify_webhook_signature(
        &cordon_notify::Secret::new(secret),
        &delivery.signature,
        &delivery.body,
        unix_now(),
        Duration::from_secs(300),
    );
    assert!(
        checked.is_ok(),
        "delivery to {} fails its signature check ({checked:?}): {:?}",
        delivery.hook,
        delivery.signature
    );
    serde_json::from_slice(&delivery.body).unwrap()
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, as PEM files and DER.
struct Certificates {
    ca_pem: PathBuf,
    server_pem: PathBuf,
    server_key: PathBuf,
    server_der: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    server_key_der: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Certificates {
    fn generate() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cordon paging test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certificates = Certificates {
            ca_pem: dir.path().join("ca.pem"),
            server_pem: dir.path().join("server.pem"),
            server_key: dir.path().join("server.key"),
            server_der: cert.der().clone(),
            server_key_der: key.serialize_der(),
            _dir: dir,
        };
        std::fs::write(&certificates.ca_pem, ca_cert.pem()).unwrap();
        std::fs::write(&certificates.server_pem, cert.pem()).unwrap();
        std::fs::write(&certificates.server_key, key.serialize_pem()).unwrap();
        certificates
    }
}

/// A TLS terminator in front of a node, as the reverse proxy of a real installation would be:
/// it decrypts and passes the bytes through.
struct TlsFront {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    fn start(upstream: SocketAddr, certificates: &Certificates) -> TlsFront {
        use tokio_rustls::rustls;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certificates.server_der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(certificates.server_key_der.clone().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = runtime().spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        TlsFront { port, task }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
