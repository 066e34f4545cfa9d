//! The evidence locker over HTTP: a streamed upload larger than the API's body limit, verified
//! downloads, integrity alarms, and share links that work once for an outsider.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::fixture::{Backend, Fixture, Who};

fn with_session(fixture: &Fixture, who: Who, method: Method, uri: &str, body: Body) -> Request<Body> {
    let caller = &fixture.callers[&who];
    let mut request = Request::builder().method(method.clone()).uri(uri);
    if let Some(cookie) = &caller.cookie {
        request = request.header(header::COOKIE, format!("cordon_session={cookie}"));
        if method != Method::GET {
            request = request.header("x-csrf-token", caller.csrf.clone().unwrap_or_default());
        }
    }
    request.body(body).unwrap()
}

pub async fn evidence_streams_in_and_out_and_share_links_work_once(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let incident = &fixture.incident;
    // Three times the API's 1 MiB body limit: the upload route streams to the locker instead.
    let image: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|i: u32| b"0123456789abcdef"[(i % 16) as usize])
        .collect();
    let uri = format!(
        "/api/v1/incidents/{incident}/evidence?source=host%20db-3%2C%20%2Fdev%2Fxvda1&name=db-3.img&tlp=TLP:AMBER"
    );
    let reply = fixture
        .send(with_session(
            &fixture,
            Who::Member,
            Method::POST,
            &uri,
            Body::from(image.clone()),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let sha256 = reply.json["sha256"].as_str().unwrap().to_owned();
    assert_eq!(reply.json["size"], image.len());

    let missing_source = format!("/api/v1/incidents/{incident}/evidence");
    let refused = fixture
        .send(with_session(
            &fixture,
            Who::Member,
            Method::POST,
            &missing_source,
            Body::from("x"),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);

    let download = format!("/api/v1/incidents/{incident}/evidence/{sha256}?purpose=timeline");
    let reply = fixture
        .send(with_session(
            &fixture,
            Who::Responder,
            Method::GET,
            &download,
            Body::empty(),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply
            .headers
            .get("x-cordon-evidence-verified")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("sha256={sha256}")
    );
    assert_eq!(reply.text.as_bytes(), &image[..]);

    // Non-members learn nothing, by either route.
    let hidden = fixture
        .send(with_session(
            &fixture,
            Who::NonMember,
            Method::GET,
            &download,
            Body::empty(),
        ))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let share = format!("/api/v1/incidents/{incident}/evidence/{sha256}/share");
    let body = Body::from(r#"{"recipient": "J. Doe, Outside Forensics", "purpose": "independent analysis"}"#);
    let mut request = with_session(&fixture, Who::Member, Method::POST, &share, body);
    request
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    let issued = fixture.send(request).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let token = issued.json["token"].as_str().unwrap().to_owned();
    let link = format!("/share/{token}");
    let first = fixture.send(Request::get(&link).body(Body::empty()).unwrap()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.text.as_bytes(), &image[..]);
    let second = fixture.send(Request::get(&link).body(Body::empty()).unwrap()).await;
    assert_eq!(second.status, StatusCode::NOT_FOUND, "single use");

    let journal = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{incident}/journal"),
            None,
        )
        .await;
    let types: Vec<&str> = journal.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert!(
        types.ends_with(&[
            "evidence_collected",
            "evidence_accessed",
            "evidence_shared",
            "evidence_share_used"
        ]),
        "{types:?}"
    );
    assert!(!journal.text.contains(&token), "the token itself is never journaled");
}

pub async fn the_room_uploads_evidence_as_a_streamed_multipart_form(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let caller = &fixture.callers[&Who::Member];
    let boundary = "cordon-test-boundary";
    let part = |name: &str, value: &str| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let mut body = String::new();
    body.push_str(&part("csrf_token", caller.csrf.as_deref().unwrap()));
    body.push_str(&part("source", "laptop of the on-call engineer"));
    body.push_str(&part("tlp", "TLP:GREEN"));
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"auth.log\"\r\nContent-Type: text/plain\r\n\r\nsshd[1]: Accepted password for root\r\n--{boundary}--\r\n"
    ));
    let request = |body: String| {
        Request::post(format!("/incidents/{}/evidence", fixture.incident))
            .header(
                header::COOKIE,
                format!("cordon_session={}", caller.cookie.as_deref().unwrap()),
            )
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap()
    };
    let reply = fixture.send(request(body.clone())).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let listed = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{}/evidence", fixture.incident),
            None,
        )
        .await;
    let names: Vec<&str> = listed.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"auth.log"), "{names:?}");
    let room = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/incidents/{}", fixture.incident),
            None,
        )
        .await;
    assert!(
        room.text.contains("auth.log") && room.text.contains("enctype=\"multipart/form-data\""),
        "the room lists it"
    );

    // Without the token as the first field nothing is stored.
    let forged = body
        .replacen(caller.csrf.as_deref().unwrap(), "forged", 1)
        .replace("auth.log", "other.log");
    let refused = fixture.send(request(forged)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let listed = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{}/evidence", fixture.incident),
            None,
        )
        .await;
    assert_eq!(
        listed.json["items"].as_array().unwrap().len(),
        2,
        "the fixture's item and auth.log only"
    );
}
