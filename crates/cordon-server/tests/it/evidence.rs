//! The evidence locker over HTTP: a streamed upload larger than the API's body limit, verified
//! downloads, integrity alarms, and share links that work once for an outsider.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use serde_json::json;

use crate::fixture::{Backend, Fixture, Who};

fn with_session(fixture: &Fixture, who: Who, method: Method, uri: &str, body: Body) -> Request<Body> {
    fixture.request(who, method, uri).body(body).unwrap()
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
    let reply = fixture.call(Who::Responder, Method::GET, &download, None).await;
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
    let hidden = fixture.call(Who::NonMember, Method::GET, &download, None).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let share = format!("/api/v1/incidents/{incident}/evidence/{sha256}/share");
    let body = json!({"recipient": "J. Doe, Outside Forensics", "purpose": "independent analysis"});
    let issued = fixture.call(Who::Member, Method::POST, &share, Some(body)).await;
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
    // Three megabytes: past the API's body limit and axum's default multipart limit.
    let log = "sshd[1]: Accepted password for root\r\n".repeat(3 * 1024 * 1024 / 37);
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"auth.log\"\r\nContent-Type: text/plain\r\n\r\n{log}\r\n--{boundary}--\r\n"
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

/// A request as `who`, arriving from `peer` as a real connection would.
fn from_peer(fixture: &Fixture, who: Who, method: Method, uri: &str, body: Body, peer: &str) -> Request<Body> {
    let mut request = with_session(fixture, who, method, uri, body);
    let address: std::net::SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(address));
    request
}

pub async fn a_resumable_upload_survives_a_break_and_journals_from_where(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let incident = &fixture.incident;
    // Two pieces; the first alone is twice the API's 1 MiB body limit.
    let image: Vec<u8> = (0..3 * 1024 * 1024).map(|i: u32| (i % 253) as u8).collect();
    let (first, rest) = image.split_at(2 * 1024 * 1024);
    let uploads = format!("/api/v1/incidents/{incident}/evidence/uploads");
    let started = fixture.call(Who::Member, Method::POST, &uploads, None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    let upload = started.json["upload"].as_str().unwrap().to_owned();
    let piece_url = format!("{uploads}/{upload}");
    assert_eq!(started.headers["location"].to_str().unwrap(), piece_url);

    // The connection drops after the first piece's bytes: what arrived is kept.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::copy_from_slice(first)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        )),
    ];
    let mut broken = with_session(
        &fixture,
        Who::Member,
        Method::PATCH,
        &piece_url,
        Body::from_stream(futures_util::stream::iter(chunks)),
    );
    broken.headers_mut().insert("upload-offset", "0".parse().unwrap());
    let reply = fixture.send(broken).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.json["error"]["details"]["offset"], first.len());

    // Nothing that looks complete: the item is not listed, and HEAD says where to resume.
    let listed = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{incident}/evidence"),
            None,
        )
        .await;
    assert_eq!(
        listed.json["items"].as_array().unwrap().len(),
        1,
        "only the fixture's item"
    );
    let head = fixture.call(Who::Member, Method::HEAD, &piece_url, None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["upload-offset"].to_str().unwrap(), first.len().to_string());
    assert!(head.text.is_empty());

    // A piece for the wrong offset is refused and says where to resume.
    let mut stale = with_session(
        &fixture,
        Who::Member,
        Method::PATCH,
        &piece_url,
        Body::from(rest.to_vec()),
    );
    stale.headers_mut().insert("upload-offset", "0".parse().unwrap());
    let reply = fixture.send(stale).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.json["error"]["details"]["offset"], first.len());

    // A colleague on the incident resumes it from where the server says.
    let mut resumed = with_session(
        &fixture,
        Who::Responder,
        Method::PATCH,
        &piece_url,
        Body::from(rest.to_vec()),
    );
    resumed
        .headers_mut()
        .insert("upload-offset", first.len().to_string().parse().unwrap());
    let reply = fixture.send(resumed).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(
        reply.headers["upload-offset"].to_str().unwrap(),
        image.len().to_string()
    );

    let sha256 = cordon_evidence::Digests::of(&image).sha256.to_hex();
    let complete = format!("{piece_url}/complete");
    let body = json!({"source": "host web-1, memory", "name": "web-1.lime", "tlp": "TLP:AMBER", "sha256": sha256});
    let mut finish = from_peer(
        &fixture,
        Who::Member,
        Method::POST,
        &complete,
        Body::from(body.to_string()),
        "198.51.100.23:50000",
    );
    finish
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    let reply = fixture.send(finish).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json["sha256"], sha256.as_str());
    assert_eq!(reply.json["from"], "198.51.100.23");
    let gone = fixture.call(Who::Member, Method::GET, &piece_url, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Downloads and share use record the client's address too.
    let download = format!("/api/v1/incidents/{incident}/evidence/{sha256}?purpose=analysis");
    let reply = fixture
        .send(from_peer(
            &fixture,
            Who::Member,
            Method::GET,
            &download,
            Body::empty(),
            "192.0.2.8:1234",
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text == String::from_utf8_lossy(&image), "the content comes back");
    let share = format!("/api/v1/incidents/{incident}/evidence/{sha256}/share");
    let body = json!({"recipient": "J. Doe", "purpose": "analysis"});
    let issued = fixture.call(Who::Member, Method::POST, &share, Some(body)).await;
    let token = issued.json["token"].as_str().unwrap().to_owned();
    let mut outsider = Request::get(format!("/share/{token}")).body(Body::empty()).unwrap();
    let address: std::net::SocketAddr = "[2001:db8::5]:443".parse().unwrap();
    outsider.extensions_mut().insert(axum::extract::ConnectInfo(address));
    assert_eq!(fixture.send(outsider).await.status, StatusCode::OK);
    let journal = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{incident}/journal"),
            None,
        )
        .await;
    let froms: Vec<(&str, &str)> = journal.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let event = &e["event"];
            let from = event["from"].as_str()?;
            Some((event["type"].as_str().unwrap(), from))
        })
        .collect();
    assert_eq!(
        froms,
        [
            ("evidence_collected", "fixture"),
            ("evidence_collected", "198.51.100.23"),
            ("evidence_accessed", "192.0.2.8"),
            ("evidence_share_used", "2001:db8::5"),
        ]
    );
}

pub async fn legal_holds_and_retention_over_the_api_follow_the_roles(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let item = format!(
        "/api/v1/incidents/{}/evidence/{}",
        fixture.incident,
        &fixture.evidence[..12]
    );
    let hold_url = format!("{item}/legal-hold");
    let hold = |who| fixture.call(who, Method::POST, &hold_url, Some(json!({"reason": "case 42"})));
    // Rita is legal counsel: she may; the viewer may not change anything.
    assert_eq!(hold(Who::Viewer).await.status, StatusCode::FORBIDDEN);
    let placed = hold(Who::Responder).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.text);
    assert_eq!(placed.json["legal_hold"]["by"], "rita");
    assert_eq!(placed.json["disposal_forbidden"], true);
    assert_eq!(hold(Who::Member).await.status, StatusCode::CONFLICT, "already held");

    let retain_url = format!("{item}/retention");
    let retain = |until: &str| {
        fixture.call(
            Who::Member,
            Method::POST,
            &retain_url,
            Some(json!({"until": until, "reason": "regulator"})),
        )
    };
    assert_eq!(retain("2033-01-31").await.status, StatusCode::OK);
    let shorter = retain("2030-01-01").await;
    assert_eq!(shorter.status, StatusCode::CONFLICT);
    assert!(shorter.text.contains("only ever extended"), "{}", shorter.text);
    assert_eq!(retain("next year").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let released = fixture
        .call(
            Who::Member,
            Method::POST,
            &format!("{item}/legal-hold/release"),
            Some(json!({"reason": "case settled"})),
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.text);
    assert!(released.json["legal_hold"].is_null());
    assert_eq!(released.json["retention"]["until"], "2033-01-31T00:00:00.000Z");
    assert_eq!(
        released.json["disposal_forbidden"], true,
        "the retention period still runs"
    );

    // The room's evidence list says it in words.
    let room = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/incidents/{}", fixture.incident),
            None,
        )
        .await;
    assert!(room.text.contains("Kept until"), "the room shows the retention period");
}
