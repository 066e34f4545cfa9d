//! What goes over the wire to webhooks, built purely so that it can be tested byte for byte:
//! the signed JSON body, the `X-Cordon-Signature` header, and the Slack payload.

use std::time::Duration;

use hmac::Mac as _;
use serde_json::{Value, json};

use crate::page::Rendered;
use crate::secret::Secret;

/// The header that carries a generic webhook's signature.
pub const SIGNATURE_HEADER: &str = "X-Cordon-Signature";

/// Slack refuses section texts longer than this.
const SLACK_SECTION_MAX: usize = 3000;

/// The JSON body posted to a generic webhook:
///
/// ```json
/// {"version": 1, "subject": "…", "text": "…",
///  "actions": [{"action": "acknowledge", "url": "…"}, {"action": "resolve", "url": "…"}]}
/// ```
pub fn webhook_body(message: &Rendered) -> Vec<u8> {
    json!({
        "version": 1,
        "subject": message.subject,
        "text": message.text,
        "actions": message.actions,
    })
    .to_string()
    .into_bytes()
}

/// The `X-Cordon-Signature` value for `body` sent at `unix_seconds`:
/// `t=<unix_seconds>,v1=<hex HMAC-SHA256(secret, "<unix_seconds>.<body>")>`.
pub fn webhook_signature(secret: &Secret, unix_seconds: i64, body: &[u8]) -> String {
    let tag = signature_mac(secret, unix_seconds, body).finalize().into_bytes();
    format!("t={unix_seconds},v1={}", hex::encode(tag))
}

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed: expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the accepted window")]
    Stale,
}

/// Checks a signature header the way a receiver should: the HMAC over `"<t>.<body>"` matches
/// (compared in constant time) and `t` is within `tolerance` of `now_unix`, which refuses
/// replays of old deliveries. Several `v1=` entries are accepted, any of which may match.
pub fn verify_webhook_signature(
    secret: &Secret,
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now_unix.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let mac = signature_mac(secret, timestamp, body);
    if tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn signature_mac(secret: &Secret, unix_seconds: i64, body: &[u8]) -> crate::HmacSha256 {
    let mut mac = crate::hmac_sha256(secret.expose().as_bytes());
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The payload for a Slack-compatible incoming webhook. `text` carries the whole message, for
/// receivers that ignore blocks (Mattermost, Rocket.Chat) and for Slack's notifications;
/// Slack itself shows the blocks: the body as a section and the actions as link buttons.
/// Everything from the page is escaped, so alert text cannot mention `<!channel>` or forge a
/// link.
pub fn slack_payload(message: &Rendered) -> Value {
    let section = truncate_chars(&format!(
        "*{}*\n{}",
        escape_mrkdwn(&message.subject),
        escape_mrkdwn(&message.body)
    ));
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": section},
    })];
    if !message.actions.is_empty() {
        let buttons: Vec<Value> = message
            .actions
            .iter()
            .map(|link| {
                json!({
                    "type": "button",
                    "action_id": link.action.label().to_ascii_lowercase(),
                    "text": {"type": "plain_text", "text": link.action.label()},
                    "url": link.url,
                })
            })
            .collect();
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    json!({"text": escape_mrkdwn(&message.text), "blocks": blocks})
}

/// Slack's three control characters; everything else is literal.
fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate_chars(text: &str) -> String {
    if text.chars().count() <= SLACK_SECTION_MAX {
        return text.to_owned();
    }
    let kept: String = text.chars().take(SLACK_SECTION_MAX - 3).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::link::LinkAction;
    use crate::page::ActionLink;

    fn message() -> Rendered {
        Rendered {
            subject: "[SEV-2] <!channel> & friends".into(),
            text: "[SEV-2] <!channel> & friends\nOpen: https://c.example/a?x=1&y=2\n\nAcknowledge: https://c.example/l/A\n"
                .into(),
            body: "[SEV-2] <!channel> & friends\nOpen: https://c.example/a?x=1&y=2\n".into(),
            html: None,
            actions: vec![ActionLink {
                action: LinkAction::Acknowledge,
                url: "https://c.example/l/A".into(),
            }],
        }
    }

    #[test]
    fn the_signature_matches_an_independent_hmac() {
        // Computed with Python's hmac module over the same secret and input.
        let header = webhook_signature(&Secret::new("whsec_test"), 1_800_000_000, br#"{"hello":1}"#);
        assert_eq!(
            header,
            "t=1800000000,v1=7e61400231002b6491bb16dd77fab6ca8e6ecdb6e8dfcb0a5f19b66d8f969c8f"
        );
    }

    #[test]
    fn receivers_accept_fresh_matching_signatures_only() {
        let secret = Secret::new("whsec_test");
        let body = webhook_body(&message());
        let header = webhook_signature(&secret, 1_800_000_000, &body);
        let window = Duration::from_secs(300);
        assert_eq!(
            verify_webhook_signature(&secret, &header, &body, 1_800_000_100, window),
            Ok(())
        );
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(
            verify_webhook_signature(&secret, &rotated, &body, 1_800_000_000, window),
            Ok(())
        );
        assert_eq!(
            verify_webhook_signature(&secret, &header, &body, 1_800_000_301, window),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_webhook_signature(&secret, &header, b"{}", 1_800_000_000, window),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_webhook_signature(&Secret::new("other"), &header, &body, 1_800_000_000, window),
            Err(SignatureError::Mismatch)
        );
        for malformed in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(
                verify_webhook_signature(&secret, malformed, &body, 1, window),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn webhook_body_shape() {
        let body: Value = serde_json::from_slice(&webhook_body(&message())).unwrap();
        expect![[r#"
            {
              "actions": [
                {
                  "action": "acknowledge",
                  "url": "https://c.example/l/A"
                }
              ],
              "subject": "[SEV-2] <!channel> & friends",
              "text": "[SEV-2] <!channel> & friends\nOpen: https://c.example/a?x=1&y=2\n\nAcknowledge: https://c.example/l/A\n",
              "version": 1
            }"#]]
        .assert_eq(&sorted(&body));
    }

    #[test]
    fn slack_payload_escapes_alert_text_and_shows_actions_as_buttons() {
        expect![[r#"
            {
              "blocks": [
                {
                  "text": {
                    "text": "*[SEV-2] &lt;!channel&gt; &amp; friends*\n[SEV-2] &lt;!channel&gt; &amp; friends\nOpen: https://c.example/a?x=1&amp;y=2\n",
                    "type": "mrkdwn"
                  },
                  "type": "section"
                },
                {
                  "elements": [
                    {
                      "action_id": "acknowledge",
                      "text": {
                        "text": "Acknowledge",
                        "type": "plain_text"
                      },
                      "type": "button",
                      "url": "https://c.example/l/A"
                    }
                  ],
                  "type": "actions"
                }
              ],
              "text": "[SEV-2] &lt;!channel&gt; &amp; friends\nOpen: https://c.example/a?x=1&amp;y=2\n\nAcknowledge: https://c.example/l/A\n"
            }"#]]
        .assert_eq(&sorted(&slack_payload(&message())));
    }

    /// Pretty JSON with object keys sorted, whatever order serde_json keeps them in (another
    /// crate of the workspace may turn on its `preserve_order` feature).
    fn sorted(value: &Value) -> String {
        fn canonical(value: &Value) -> Value {
            match value {
                Value::Object(map) => {
                    let sorted: std::collections::BTreeMap<&String, Value> =
                        map.iter().map(|(key, value)| (key, canonical(value))).collect();
                    serde_json::to_value(sorted).unwrap()
                }
                Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
                other => other.clone(),
            }
        }
        serde_json::to_string_pretty(&canonical(value)).unwrap()
    }

    #[test]
    fn slack_sections_stay_under_the_limit() {
        let mut long = message();
        long.body = "é".repeat(5000);
        let payload = slack_payload(&long);
        let section = payload["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(section.chars().count(), SLACK_SECTION_MAX);
        assert!(section.ends_with("..."));
    }
}
