//! The access-control matrix: every route in the route table, called by every kind of caller,
//! must answer as the route's policy says. Routes come from `routes::table`, so a new route is
//! in the matrix the moment it exists; it fails here until it has a sample request below.

use axum::http::{Method, StatusCode};
use cordon_server::routes::{self, Policy, Route, Surface};
use cordon_store::SqliteStore;
use serde_json::{Value, json};

use crate::fixture::{Backend, EVERYONE, Fixture, Who};

/// What a caller must get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Through access control: anything but 401, 403, 404 or a server error.
    Allowed,
    /// A public route: anything but 401 or a server error (403 and 404 may be its answer).
    PublicAnswer,
    Status(u16),
}

fn expected(policy: Policy, who: Who) -> Expect {
    use Expect::*;
    use Who::*;
    let signed_in = !matches!(who, Anonymous | ExpiredToken);
    match policy {
        Policy::Public => PublicAnswer,
        _ if !signed_in => Status(401),
        Policy::SignedIn => Allowed,
        Policy::Responder => {
            if who == Viewer {
                Status(403)
            } else {
                Allowed
            }
        }
        Policy::IncidentRead => match who {
            Member | Responder | Viewer => Allowed,
            _ => Status(404),
        },
        Policy::IncidentWrite => match who {
            Member | Responder => Allowed,
            Viewer => Status(403),
            _ => Status(404),
        },
        Policy::Admin | Policy::BreakGlass => {
            if who == Admin {
                Allowed
            } else {
                Status(403)
            }
        }
    }
}

/// A sample form per web route that posts one; a route missing here fails the matrix.
fn sample_form(path: &str, fixture: &Fixture) -> Option<Vec<(&'static str, String)>> {
    let fields = match path {
        "/sign-in" => vec![("name", "alice".into()), ("password", crate::fixture::PASSWORD.into())],
        "/setup" => vec![
            ("token", "cdn_setup_wrong".into()),
            ("name", "eve".into()),
            ("password", "long enough password".into()),
        ],
        "/sign-out" | "/account/totp/enrol" | "/account/tokens/{token}/revoke" => vec![],
        "/account/totp/confirm" => vec![("code", "000000".into())],
        "/account/tokens" => vec![("label", "ci".into()), ("scope", "read".into())],
        "/incidents" => vec![
            ("kind", "operational".into()),
            ("severity", "sev-3".into()),
            ("title", "disk full".into()),
        ],
        "/incidents/{incident}/events" => vec![("type", "step_started".into()), ("step", "1".into())],
        // Not multipart: a caller who gets through access control is told to choose a file.
        "/incidents/{incident}/evidence" => vec![("source", "host db-3".into())],
        "/incidents/{incident}/evidence/{sha256}/share" => vec![
            ("recipient", "J. Doe, Outside Forensics".into()),
            ("purpose", "independent analysis".into()),
        ],
        "/break-glass" => vec![
            ("incident", fixture.incident.clone()),
            ("reason", "counsel asked for a legal hold review".into()),
        ],
        "/alerts/{alert}/status" => vec![("action", "acknowledge".into())],
        "/page/{token}" => vec![],
        "/admin/users" => vec![
            ("name", "newcomer".into()),
            ("role", "viewer".into()),
            ("password", "a long password indeed".into()),
        ],
        _ => return None,
    };
    Some(fields)
}

/// Calls `route` at `path` as `who` with its sample request: JSON for the API, a form with
/// the session's CSRF field for the web UI.
async fn call_route<S>(fixture: &Fixture, route: &Route<S>, path: &str, who: Who) -> crate::fixture::Reply {
    if route.surface == Surface::Web && route.method == Method::POST {
        let Some(fields) = sample_form(route.path, fixture) else {
            panic!("web route POST {} has no sample form in the matrix test", route.path);
        };
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return fixture.form(who, path, &fields, true).await;
    }
    let Some(body) = sample_body(&route.method, route.path) else {
        panic!(
            "route {} {} has no sample request in the matrix test",
            route.method, route.path
        );
    };
    fixture.call(who, route.method.clone(), path, body).await
}

/// A web page's answer to someone not signed in: a redirect to the sign-in page.
fn sent_to_sign_in(reply: &crate::fixture::Reply) -> bool {
    reply.status == StatusCode::SEE_OTHER
        && reply
            .headers
            .get("location")
            .is_some_and(|location| location.as_bytes() == b"/sign-in")
}

/// A sample request body per route that needs one; a route missing here fails the matrix.
fn sample_body(method: &Method, path: &str) -> Option<Option<Value>> {
    let body = match (method.as_str(), path) {
        ("GET" | "DELETE", _) => None,
        ("POST", "/api/v1/setup") => {
            Some(json!({"token": "cdn_setup_wrong", "name": "eve", "password": "long enough password"}))
        }
        ("POST", "/api/v1/session") => Some(json!({"name": "alice", "password": crate::fixture::PASSWORD})),
        ("POST", "/api/v1/totp/enrol") => None,
        ("POST", "/api/v1/totp/confirm") => Some(json!({"code": "000000"})),
        ("POST", "/api/v1/tokens") => Some(json!({"label": "ci", "scope": "read"})),
        ("POST", "/api/v1/users") => {
            Some(json!({"name": "newcomer", "role": "viewer", "password": "a long password indeed"}))
        }
        ("PATCH", "/api/v1/users/{user}") => Some(json!({"totp_required": true})),
        ("POST", "/api/v1/incidents") => {
            Some(json!({"kind": "operational", "severity": "sev-3", "title": "disk full"}))
        }
        ("POST", "/api/v1/incidents/{incident}/events") => Some(json!({"type": "step_started", "step": 1})),
        // The upload's metadata travels in the query; without `source` a caller who gets
        // through access control is told what is missing (422).
        ("POST", "/api/v1/incidents/{incident}/evidence") => Some(json!({})),
        ("POST", "/api/v1/incidents/{incident}/evidence/{sha256}/share") => {
            Some(json!({"recipient": "J. Doe, Outside Forensics", "purpose": "independent analysis"}))
        }
        ("POST", "/api/v1/incidents/{incident}/evidence/{sha256}/retention") => {
            Some(json!({"until": "2033-01-31", "reason": "regulator: seven years"}))
        }
        ("POST", "/api/v1/incidents/{incident}/evidence/{sha256}/legal-hold")
        | ("POST", "/api/v1/incidents/{incident}/evidence/{sha256}/legal-hold/release") => {
            Some(json!({"reason": "case 42"}))
        }
        ("POST", "/api/v1/incidents/{incident}/evidence/uploads") => None,
        // Without the Upload-Offset header a caller who gets through access control gets a 400.
        ("PATCH", "/api/v1/incidents/{incident}/evidence/uploads/{upload}") => None,
        ("POST", "/api/v1/incidents/{incident}/evidence/uploads/{upload}/complete") => {
            Some(json!({"source": "host db-3"}))
        }
        ("POST", "/api/v1/incidents/{incident}/break-glass") => {
            Some(json!({"reason": "counsel asked for a legal hold review"}))
        }
        // Intake authenticates by integration key, not by caller: without one, a 400.
        ("POST", "/v2/enqueue" | "/api/v1/intake/alertmanager" | "/api/v1/intake/webhook") => Some(json!({})),
        ("PUT", "/api/v1/services/{service}") => Some(json!({"description": "databases"})),
        ("POST", "/api/v1/services/{service}/integrations") => Some(json!({"kind": "pagerduty"})),
        ("PUT", "/api/v1/escalation-policies/{policy}") => {
            Some(json!({"levels": [{"targets": [{"kind": "person", "name": "alice"}]}]}))
        }
        ("PUT", "/api/v1/schedules/{schedule}") => Some(json!({
            "time_zone": "UTC",
            "layers": [{"name": "day", "participants": ["alice"], "start_date": "2026-01-01", "handoff": "08:00",
                        "shift": {"unit": "days", "count": 1}}],
            "overrides": [],
        })),
        ("POST", "/api/v1/contacts") => Some(json!({"channel": {"kind": "email", "address": "me@example.com"}})),
        ("POST", "/api/v1/alerts/{alert}/acknowledge" | "/api/v1/alerts/{alert}/resolve") => None,
        _ => return None,
    };
    Some(body)
}

fn concrete_path(template: &str, fixture: &Fixture, who: Who) -> String {
    let own_token = fixture.callers[&who]
        .own_token_id
        .clone()
        .unwrap_or_else(|| "no-token".into());
    let own_contact = fixture.callers[&who]
        .own_contact_id
        .clone()
        .unwrap_or_else(|| "no-contact".into());
    let token = if template.starts_with("/page/") {
        "not-a-link"
    } else {
        own_token.as_str()
    };
    template
        .replace("{incident}", &fixture.incident)
        .replace("{sha256}", &fixture.evidence)
        .replace("{upload}", &fixture.upload)
        .replace("{user}", "rita")
        .replace("{token}", token)
        .replace("{service}", "db")
        .replace("{integration}", &fixture.paging.integration)
        .replace("{policy}", "dba")
        .replace("{schedule}", "primary")
        .replace("{contact}", &own_contact)
        .replace("{alert}", &fixture.paging.alert)
}

/// Routes that need the fixture's services, contacts and alerts.
fn is_paging(path: &str) -> bool {
    [
        "/v2/",
        "/intake/",
        "/services",
        "/integrations",
        "/escalation-policies",
        "/schedules",
        "/contacts",
        "/alerts",
        "/page/",
        "/oncall",
    ]
    .iter()
    .any(|part| path.contains(part))
}

pub async fn every_route_answers_every_caller_as_its_policy_says(backend: Backend) {
    let table = routes::table::<SqliteStore>();
    let mut failures = Vec::new();
    let reads = Fixture::new(&backend, true).await;
    for route in &table {
        for who in EVERYONE {
            // Reads share one installation; anything that may change state gets a fresh one,
            // with the paging data only when the route is about paging.
            let fresh = match (route.method == Method::GET, is_paging(route.path)) {
                (true, _) => None,
                (false, true) => Some(Fixture::new(&backend, true).await),
                (false, false) => Some(Fixture::without_paging(&backend).await),
            };
            let fixture = fresh.as_ref().unwrap_or(&reads);
            let path = concrete_path(route.path, fixture, who);
            let reply = call_route(fixture, route, &path, who).await;
            let status = reply.status.as_u16();
            let web = route.surface == Surface::Web;
            // Pages send people who are not signed in to the sign-in page instead of a 401.
            let ok = match expected(route.policy, who) {
                Expect::Status(401) if web => sent_to_sign_in(&reply),
                Expect::Allowed => !matches!(status, 401 | 403 | 404) && status < 500 && !sent_to_sign_in(&reply),
                Expect::PublicAnswer => status != 401 && status < 500 && !sent_to_sign_in(&reply),
                Expect::Status(wanted) => status == wanted,
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who:?} ({:?}): got {status}, expected {:?}: {}",
                    route.method,
                    route.path,
                    route.policy,
                    expected(route.policy, who),
                    reply.text
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} access decisions were wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

pub async fn a_non_member_cannot_tell_a_hidden_incident_from_a_missing_one(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let table = routes::table::<SqliteStore>();
    let missing = "00000000-0000-4000-8000-000000000000";
    for who in [Who::NonMember, Who::Excluded, Who::Admin] {
        for route in table
            .iter()
            .filter(|r| r.path.contains("{incident}") && r.policy != Policy::BreakGlass)
        {
            for reference in [fixture.incident.as_str(), fixture.codename.as_str()] {
                let hidden = call_route(&fixture, route, &route.path.replace("{incident}", reference), who).await;
                let absent = call_route(&fixture, route, &route.path.replace("{incident}", missing), who).await;
                assert_eq!(
                    (hidden.status, &hidden.text),
                    (absent.status, &absent.text),
                    "{} {} as {who:?}",
                    route.method,
                    route.path
                );
                assert_eq!(hidden.status, StatusCode::NOT_FOUND);
            }
        }
        // Lists, filters and counts leave it out.
        for query in ["", "?kind=security", "?status=open", "?severity=sev-1", "?mine=true"] {
            let reply = fixture
                .call(who, Method::GET, &format!("/api/v1/incidents{query}"), None)
                .await;
            let ids: Vec<&str> = reply.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap())
                .collect();
            assert!(!ids.contains(&fixture.incident.as_str()), "{who:?} {query}: {ids:?}");
            assert_eq!(
                reply.json["total"].as_u64(),
                Some(ids.len() as u64),
                "{who:?} {query}: the count hides it too"
            );
            assert!(
                ids.iter().all(|id| *id == fixture.operational),
                "{who:?} {query}: {ids:?}"
            );
            assert!(!reply.text.contains(&fixture.codename), "{who:?} {query}");
        }
    }
    let members_list = fixture
        .call(Who::Member, Method::GET, "/api/v1/incidents?kind=security", None)
        .await;
    // Hers, and the one the fixture's security alert opened, where she was paged.
    assert_eq!(members_list.json["total"], json!(2));
}
