//! Webhooks against an in-process HTTP receiver: the signature as a receiver verifies it, the
//! Slack payload, and how each answer is classified.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use cordon_notify::{Channel, Notifier, NotifierConfig, Secret, SecretUrl, SendError, verify_webhook_signature};
use hmac::Mac;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::pages::{self, ACK, RESOLVE, SECRET_WORDS};

/// What the receiver answers to every request.
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    delay: Duration,
}

impl Answer {
    fn status(status: u16) -> Self {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Vec::new(),
            body: "",
            delay: Duration::ZERO,
        }
    }
}

/// One request as the receiver saw it.
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

struct Receiver {
    base: String,
    requests: mpsc::UnboundedReceiver<Received>,
}

async fn receiver(answer: Answer) -> Receiver {
    let (sender, requests) = mpsc::unbounded_channel();
    let state = Arc::new((answer, sender));
    let app = Router::new().fallback(receive).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { base, requests }
}

async fn receive(
    State(state): State<Arc<(Answer, mpsc::UnboundedSender<Received>)>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (answer, sender) = &*state;
    let _ = sender.send(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    tokio::time::sleep(answer.delay).await;
    let mut response_headers = HeaderMap::new();
    for (name, value) in &answer.headers {
        response_headers.insert(*name, value.parse().unwrap());
    }
    (answer.status, response_headers, answer.body)
}

fn notifier() -> Notifier {
    Notifier::new(NotifierConfig::default()).unwrap()
}

#[tokio::test]
async fn a_webhook_is_signed_so_that_the_receiver_can_verify_it() {
    let mut receiver = receiver(Answer::status(204)).await;
    let channel = Channel::Webhook {
        url: SecretUrl::new(format!("{}/hooks/cordon", receiver.base)),
        secret: Secret::new("whsec_7f3a9c"),
    };
    let delivery = notifier().send(&channel, &pages::security()).await.unwrap();
    assert_eq!((delivery.channel, delivery.status), ("webhook", 204));
    assert_eq!(format!("http://{}", delivery.peer), receiver.base);

    let request = receiver.requests.recv().await.unwrap();
    assert_eq!(request.path, "/hooks/cordon");
    assert_eq!(request.headers["content-type"], "application/json");

    // The receiver's side, written from the documented format alone.
    let header = request.headers["x-cordon-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(',').unwrap();
    let timestamp: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    let signature = hex::decode(v1.strip_prefix("v1=").unwrap()).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_7f3a9c").unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    mac.verify_slice(&signature).expect("the signature verifies");
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    assert!((now - timestamp).abs() <= 300, "the timestamp is the time of sending");
    // And the helper the crate offers receivers agrees.
    let secret = Secret::new("whsec_7f3a9c");
    verify_webhook_signature(&secret, header, &request.body, now, Duration::from_secs(300)).unwrap();
    let altered = [request.body.as_ref(), b" "].concat();
    assert!(verify_webhook_signature(&secret, header, &altered, now, Duration::from_secs(300)).is_err());

    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["subject"], "[SEV-1] quiet-harbor");
    assert_eq!(
        body["actions"][0],
        serde_json::json!({"action": "acknowledge", "url": ACK})
    );
    assert_eq!(
        body["actions"][1],
        serde_json::json!({"action": "resolve", "url": RESOLVE})
    );
    let raw = String::from_utf8_lossy(&request.body).to_lowercase();
    for word in SECRET_WORDS {
        assert!(!raw.contains(&word.to_lowercase()), "{word} leaked into {raw}");
    }
}

#[tokio::test]
async fn slack_gets_text_and_buttons() {
    let mut receiver = receiver(Answer {
        body: "ok",
        ..Answer::status(200)
    })
    .await;
    let channel = Channel::Slack {
        url: SecretUrl::new(format!("{}/services/T000/B000/XXXXSECRETXXXX", receiver.base)),
    };
    let delivery = notifier().send(&channel, &pages::operational()).await.unwrap();
    assert_eq!((delivery.channel, delivery.status), ("slack", 200));

    let request = receiver.requests.recv().await.unwrap();
    assert!(request.headers.get("x-cordon-signature").is_none());
    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    let text = payload["text"].as_str().unwrap();
    assert!(text.starts_with("[SEV-2] Disk full on db-1\n"), "{text}");
    assert_eq!(payload["blocks"][0]["type"], "section");
    assert_eq!(payload["blocks"][0]["text"]["type"], "mrkdwn");
    assert!(
        payload["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Service: payments")
    );
    let buttons = payload["blocks"][1]["elements"].as_array().unwrap();
    let links: Vec<(&str, &str)> = buttons
        .iter()
        .map(|b| (b["text"]["text"].as_str().unwrap(), b["url"].as_str().unwrap()))
        .collect();
    assert_eq!(links, [("Acknowledge", ACK), ("Resolve", RESOLVE)]);
    assert!(buttons.iter().all(|b| b["type"] == "button"));
}

#[tokio::test]
async fn answers_are_classified_and_errors_never_show_the_url_path() {
    let cases: [(Answer, bool, &str); 7] = [
        (Answer::status(500), true, "answered 500 internal server error"),
        (Answer::status(503), true, "answered 503 service unavailable"),
        (Answer::status(408), true, "answered 408 request timeout"),
        (
            Answer {
                headers: vec![("retry-after", "7")],
                ..Answer::status(429)
            },
            true,
            "answered 429 too many requests",
        ),
        (
            Answer {
                body: "no_service",
                ..Answer::status(404)
            },
            false,
            "answered 404 not found (no_service)",
        ),
        (
            Answer {
                body: "<html>the token XXXXSECRETXXXX is invalid</html>",
                ..Answer::status(403)
            },
            false,
            "answered 403 forbidden",
        ),
        (
            Answer {
                headers: vec![("location", "https://elsewhere.example/")],
                ..Answer::status(301)
            },
            false,
            "answered 301 moved permanently; redirects are not followed, register the final url",
        ),
    ];
    for (answer, transient, expected) in cases {
        let status = answer.status;
        let receiver = receiver(answer).await;
        let channel = Channel::Slack {
            url: SecretUrl::new(format!("{}/services/T000/B000/XXXXSECRETXXXX", receiver.base)),
        };
        let err = notifier().send(&channel, &pages::security()).await.unwrap_err();
        let peer = receiver.base.trim_start_matches("http://");
        assert_eq!(err.to_string(), format!("slack webhook {peer} {expected}"), "{status}");
        assert_eq!(err.is_transient(), transient, "{status}: {err:?}");
        assert!(!format!("{err:?}").contains("XXXXSECRETXXXX"), "{status}: {err:?}");
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        }
    }
}

#[tokio::test]
async fn a_slow_receiver_times_out_transiently() {
    let receiver = receiver(Answer {
        delay: Duration::from_secs(10),
        ..Answer::status(200)
    })
    .await;
    let notifier = Notifier::new(NotifierConfig {
        http_timeout: Duration::from_millis(300),
        ..NotifierConfig::default()
    })
    .unwrap();
    let channel = Channel::Webhook {
        url: SecretUrl::new(format!("{}/hook", receiver.base)),
        secret: Secret::new("s"),
    };
    let err = notifier.send(&channel, &pages::security()).await.unwrap_err();
    let peer = receiver.base.trim_start_matches("http://");
    assert_eq!(
        err,
        SendError::Transient {
            reason: format!("webhook {peer} did not answer within 0.3 s"),
            retry_after: None
        }
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_a_bad_url_permanent() {
    let (_closed, port) = crate::closed_port();
    let channel = Channel::Webhook {
        url: SecretUrl::new(format!("http://127.0.0.1:{port}/hook/XXXXSECRETXXXX")),
        secret: Secret::new("s"),
    };
    let err = notifier().send(&channel, &pages::security()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("webhook 127.0.0.1:{port} refused the connection")
    );

    let bad = Channel::Slack {
        url: SecretUrl::new("hooks.slack.com/services/XXXXSECRETXXXX"),
    };
    let err = notifier().send(&bad, &pages::security()).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "invalid webhook url ***: it must be an absolute http or https url with a host"
    );
}
