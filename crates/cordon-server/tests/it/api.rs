//! Behaviour of the API beyond the matrix: setup, sessions and CSRF, tokens, throttling,
//! second factors, break-glass, need-to-know for a second responder, OpenAPI coverage.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cordon_server::routes;
use cordon_store::SqliteStore;
use serde_json::{Value, json};

use crate::fixture::{Backend, Caller, Fixture, PASSWORD, Reply, Who};

async fn post_json(fixture: &Fixture, uri: &str, body: Value, cookie: Option<&str>, csrf: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, format!("cordon_session={cookie}"));
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    fixture.send(request.body(Body::from(body.to_string())).unwrap()).await
}

async fn login(fixture: &Fixture, name: &str, password: &str, totp: Option<&str>) -> Reply {
    let mut body = json!({"name": name, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    post_json(fixture, "/api/v1/session", body, None, None).await
}

fn session_cookie(reply: &Reply) -> String {
    let cookie = reply.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("cordon_session=")
        .to_owned()
}

pub async fn first_admin_setup_works_once(backend: Backend) {
    let fixture = Fixture::new(&backend, false).await;
    let token = fixture.setup_token.clone().unwrap();
    let weak = post_json(
        &fixture,
        "/api/v1/setup",
        json!({"token": token, "name": "root", "password": "short"}),
        None,
        None,
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", weak.text);
    let created = post_json(
        &fixture,
        "/api/v1/setup",
        json!({"token": token, "name": "root", "password": PASSWORD}),
        None,
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["role"], "admin");
    let again = post_json(
        &fixture,
        "/api/v1/setup",
        json!({"token": token, "name": "eve", "password": PASSWORD}),
        None,
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "the token works once");
    assert_eq!(login(&fixture, "root", PASSWORD, None).await.status, StatusCode::OK);
}

pub async fn sessions_are_http_only_strict_cookies_and_need_csrf(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let reply = login(&fixture, "alice", PASSWORD, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let set_cookie = reply.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = session_cookie(&reply);
    assert!(cookie.starts_with("cdn_s_"));
    let csrf = reply.json["csrf_token"].as_str().unwrap().to_owned();
    let body = json!({"kind": "operational", "severity": "sev-4", "title": "printer on fire"});

    let without = post_json(&fixture, "/api/v1/incidents", body.clone(), Some(&cookie), None).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert!(without.text.contains("CSRF"), "{}", without.text);
    let other_sessions = fixture.callers[&Who::Member].csrf.clone().unwrap();
    let foreign = post_json(
        &fixture,
        "/api/v1/incidents",
        body.clone(),
        Some(&cookie),
        Some(&other_sessions),
    )
    .await;
    assert_eq!(
        foreign.status,
        StatusCode::FORBIDDEN,
        "a CSRF token of another session is refused"
    );
    let with = post_json(&fixture, "/api/v1/incidents", body, Some(&cookie), Some(&csrf)).await;
    assert_eq!(with.status, StatusCode::CREATED, "{}", with.text);

    // Signing out ends the session for good.
    let request = Request::builder()
        .method(Method::DELETE)
        .uri("/api/v1/session")
        .header(header::COOKIE, format!("cordon_session={cookie}"))
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .unwrap();
    assert_eq!(fixture.send(request).await.status, StatusCode::NO_CONTENT);
    let request = Request::builder()
        .uri("/api/v1/session")
        .header(header::COOKIE, format!("cordon_session={cookie}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(fixture.send(request).await.status, StatusCode::UNAUTHORIZED);
}

pub async fn api_tokens_are_shown_once_stored_hashed_and_expire(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let created = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"label": "ci", "scope": "write"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let token = created.json["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cdn_t_"));
    let listed = fixture.call(Who::Member, Method::GET, "/api/v1/tokens", None).await;
    assert!(!listed.text.contains(&token), "the token is never shown again");
    assert_eq!(cordon_auth::secret::digest(&token).len(), 64);

    let as_token = |bearer: &str, method: Method, uri: &str, body: Option<Value>| {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap()
    };
    let shown = fixture
        .send(as_token(
            &token,
            Method::GET,
            &format!("/api/v1/incidents/{}", fixture.incident),
            None,
        ))
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    let event = json!({"type": "step_started", "step": 1});
    let acted = fixture
        .send(as_token(
            &token,
            Method::POST,
            &format!("/api/v1/incidents/{}/events", fixture.incident),
            Some(event.clone()),
        ))
        .await;
    assert_eq!(acted.status, StatusCode::OK, "tokens need no CSRF: {}", acted.text);

    let read_only = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"label": "ro", "scope": "read"})),
        )
        .await;
    let read_only = read_only.json["token"].as_str().unwrap().to_owned();
    let refused = fixture
        .send(as_token(
            &read_only,
            Method::POST,
            &format!("/api/v1/incidents/{}/events", fixture.incident),
            Some(event),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let too_much = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"label": "x", "scope": "admin"})),
        )
        .await;
    assert_eq!(
        too_much.status,
        StatusCode::FORBIDDEN,
        "a responder cannot mint an admin token"
    );

    let id = created.json["id"].as_str().unwrap();
    let revoked = fixture
        .call(Who::Member, Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        fixture
            .send(as_token(&token, Method::GET, "/api/v1/incidents", None))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let Caller { bearer, .. } = &fixture.callers[&Who::ExpiredToken];
    assert_eq!(
        fixture
            .send(as_token(
                bearer.as_deref().unwrap(),
                Method::GET,
                "/api/v1/incidents",
                None
            ))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

pub async fn login_is_throttled_per_account_with_retry_after(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    for _ in 0..5 {
        assert_eq!(
            login(&fixture, "alice", "wrong password!!", None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = login(&fixture, "alice", PASSWORD, None).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: i64 = throttled
        .headers
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    let unknown = login(&fixture, "nobody-at-all", PASSWORD, None).await;
    assert_eq!(
        unknown.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is throttled too"
    );
}

pub async fn totp_is_enforced_once_enrolled(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let enrol = fixture
        .call(Who::Member, Method::POST, "/api/v1/totp/enrol", None)
        .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text);
    let secret = enrol.json["secret"].as_str().unwrap().to_owned();
    assert!(
        enrol.json["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Cordon:alice?")
    );
    let now = cordon_app::now().unix_millis() / 1000;
    let code = cordon_auth::totp::code_at(&secret, now).unwrap();
    let confirmed = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/totp/confirm",
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let stale = fixture.call(Who::Member, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(
        stale.status,
        StatusCode::UNAUTHORIZED,
        "sessions from before the second factor end"
    );

    let missing = login(&fixture, "alice", PASSWORD, None).await;
    assert_eq!(
        (missing.status, missing.json["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required"))
    );
    let replay = login(&fixture, "alice", PASSWORD, Some(&code)).await;
    assert_eq!(
        replay.status,
        StatusCode::UNAUTHORIZED,
        "a used code does not work twice"
    );
    let next = cordon_auth::totp::code_at(&secret, now + 30).unwrap();
    assert_eq!(
        login(&fixture, "alice", PASSWORD, Some(&next)).await.status,
        StatusCode::OK
    );
}

pub async fn break_glass_is_journaled_and_excluded_admins_stay_out(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let uri = format!("/api/v1/incidents/{}", fixture.incident);
    assert_eq!(
        fixture.call(Who::Admin, Method::GET, &uri, None).await.status,
        StatusCode::NOT_FOUND
    );
    let glass = fixture
        .call(
            Who::Admin,
            Method::POST,
            &format!("{uri}/break-glass"),
            Some(json!({"reason": ""})),
        )
        .await;
    assert_eq!(
        glass.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {}",
        glass.text
    );
    let glass = fixture
        .call(
            Who::Admin,
            Method::POST,
            &format!("{uri}/break-glass"),
            Some(json!({"reason": "counsel: legal hold"})),
        )
        .await;
    assert_eq!(glass.status, StatusCode::OK, "{}", glass.text);
    assert_eq!(
        fixture.call(Who::Admin, Method::GET, &uri, None).await.status,
        StatusCode::OK
    );

    // The commander sees who broke the glass and why, in the incident and in its journal.
    let seen = fixture.call(Who::Member, Method::GET, &uri, None).await;
    assert_eq!(seen.json["break_glass"][0]["by"], "root");
    assert_eq!(seen.json["break_glass"][0]["reason"], "counsel: legal hold");
    let journal = fixture
        .call(Who::Member, Method::GET, &format!("{uri}/journal"), None)
        .await;
    let last = journal.json["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["event"]["type"].as_str()),
        (Some("root"), Some("break_glass"))
    );
    assert_eq!(journal.json["chain"]["verified"], json!(true));

    // An excluded person gets nothing out of break-glass, even as an admin.
    let promote = fixture
        .call(
            Who::Admin,
            Method::PATCH,
            "/api/v1/users/mallory",
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
    let denied = fixture
        .call(
            Who::Excluded,
            Method::POST,
            &format!("{uri}/break-glass"),
            Some(json!({"reason": "let me in"})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND, "{}", denied.text);
}

pub async fn a_second_responder_sees_nothing_until_added(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let uri = format!("/api/v1/incidents/{}", fixture.incident);
    let before = fixture
        .call(Who::NonMember, Method::GET, "/api/v1/incidents", None)
        .await;
    assert!(!before.text.contains(&fixture.incident));
    assert_eq!(
        fixture.call(Who::NonMember, Method::GET, &uri, None).await.status,
        StatusCode::NOT_FOUND
    );
    let added = fixture
        .call(
            Who::Member,
            Method::POST,
            &format!("{uri}/events"),
            Some(json!({"type": "member_added", "person": "bob"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    let after = fixture
        .call(Who::NonMember, Method::GET, "/api/v1/incidents", None)
        .await;
    assert!(after.text.contains(&fixture.incident));
    let journal = fixture
        .call(Who::NonMember, Method::GET, &format!("{uri}/journal"), None)
        .await;
    assert!(
        journal.text.contains("\"member_added\""),
        "the access change is journaled: {}",
        journal.text
    );
}

pub async fn openapi_covers_every_route(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let document = fixture
        .call(Who::Anonymous, Method::GET, "/api/v1/openapi.json", None)
        .await
        .json;
    assert_eq!(document["openapi"], "3.1.0");
    for route in routes::table::<SqliteStore>() {
        let operation = &document["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is missing from the OpenAPI document",
            route.method,
            route.path
        );
        assert_eq!(operation["summary"], route.summary);
    }
    let out = std::env::temp_dir().join(format!("cordon-openapi-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&out, document.to_string()).unwrap();
    crate::api::validate_openapi(&out);
}

/// Validates the document with the `openapi-spec-validator` Python package, which the test
/// setup installs. Without it the check is skipped with a notice, except under CI=true.
pub fn validate_openapi(path: &std::path::Path) {
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", &path.display().to_string()])
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) if String::from_utf8_lossy(&output.stderr).contains("No module named") => {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !in_ci,
                "CI=true but openapi-spec-validator is not installed (scripts/setup installs it)"
            );
            eprintln!("notice: python3 -m openapi_spec_validator is not installed; skipping OpenAPI validation");
        }
        Ok(output) => panic!(
            "the OpenAPI document does not validate:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(err) => eprintln!("notice: python3 not available ({err}); skipping OpenAPI validation"),
    }
}

pub async fn bad_json_gets_a_clear_400(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let reply = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"kind": "security", "severity": "sev-9", "title": "x"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["code"], "bad_request");
    assert!(
        reply.json["error"]["message"].as_str().unwrap().contains("sev-9"),
        "{}",
        reply.text
    );
}
