//! The web UI in-process, on both backends: every form route refuses a post without the
//! session's CSRF field, security incidents keep their title out of the tab and out of other
//! people's lists, and the static stylesheet is the only asset.

use axum::http::{Method, StatusCode};
use cordon_server::routes::{self, Policy, Surface};
use cordon_store::SqliteStore;

use crate::fixture::{Backend, Fixture, Who};

pub async fn every_form_refuses_a_post_without_the_csrf_field(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let before = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{}/journal", fixture.incident),
            None,
        )
        .await
        .json["entries"]
        .as_array()
        .map(Vec::len);
    for route in routes::table::<SqliteStore>()
        .iter()
        .filter(|r| r.surface == Surface::Web && r.method == Method::POST)
    {
        let path = route
            .path
            .replace("{incident}", &fixture.incident)
            .replace("{sha256}", &fixture.evidence)
            .replace("{token}", "token-of-alice");
        let fields = [
            ("type", "step_started"),
            ("step", "1"),
            ("label", "x"),
            ("scope", "read"),
        ];
        for who in [Who::Member, Who::Admin] {
            let reply = fixture.form(who, &path, &fields, false).await;
            let wanted = StatusCode::FORBIDDEN;
            assert_eq!(
                reply.status, wanted,
                "POST {} as {who:?} without csrf_token: {}",
                route.path, reply.text
            );
            if route.policy != Policy::Public {
                assert!(reply.text.contains("did not come from this page"), "{}", reply.text);
            }
        }
    }
    let after = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/api/v1/incidents/{}/journal", fixture.incident),
            None,
        )
        .await
        .json["entries"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after, "nothing was appended");
    // With the field, the same post goes through.
    let path = format!("/incidents/{}/events", fixture.incident);
    let reply = fixture
        .form(Who::Member, &path, &[("type", "step_started"), ("step", "1")], true)
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
}

pub async fn security_incidents_keep_their_title_out_of_the_tab_and_other_lists(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let room = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/incidents/{}", fixture.incident),
            None,
        )
        .await;
    assert_eq!(room.status, StatusCode::OK);
    let title = room
        .text
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap();
    assert_eq!(title, format!("{} · Cordon", fixture.codename));
    assert!(room.text.contains("Confidential — need to know"));
    assert!(
        room.text.contains("Deploy key leaked"),
        "members see the title inside the room"
    );
    let list = fixture.call(Who::Member, Method::GET, "/incidents", None).await;
    assert!(list.text.contains(&fixture.codename));
    for who in [Who::NonMember, Who::Excluded, Who::Admin] {
        for query in ["", "?kind=security", "?severity=sev-1", "?status=open", "?mine=true"] {
            let list = fixture
                .call(who, Method::GET, &format!("/incidents{query}"), None)
                .await;
            assert_eq!(list.status, StatusCode::OK);
            assert!(!list.text.contains(&fixture.codename), "{who:?} {query}");
            assert!(!list.text.contains(&fixture.incident), "{who:?} {query}");
        }
    }
}

pub async fn pages_carry_the_strict_csp_and_unknown_addresses_get_the_404_page(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let page = fixture.call(Who::Member, Method::GET, "/incidents", None).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(!page.text.contains("<script"), "no script at all");
    assert!(!page.text.contains("style="), "no inline style");
    let css = fixture
        .call(Who::Anonymous, Method::GET, "/static/cordon.css", None)
        .await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    let unknown = fixture.call(Who::Member, Method::GET, "/no/such/page", None).await;
    let missing = fixture
        .call(
            Who::Member,
            Method::GET,
            "/incidents/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!((unknown.status, &unknown.text), (missing.status, &missing.text));
    let api = fixture
        .call(Who::Member, Method::GET, "/api/v1/no-such-route", None)
        .await;
    assert_eq!(api.json["error"]["code"], "not_found");
}

pub async fn break_glass_shows_a_banner_and_people_forms_work(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let room = format!("/incidents/{}", fixture.incident);
    let events = format!("{room}/events");
    let glass = fixture
        .form(
            Who::Admin,
            "/break-glass",
            &[("incident", fixture.codename.as_str()), ("reason", "legal hold review")],
            true,
        )
        .await;
    assert_eq!(glass.status, StatusCode::SEE_OTHER, "{}", glass.text);
    assert_eq!(glass.headers["location"].to_str().unwrap(), room);
    for who in [Who::Admin, Who::Member, Who::Viewer] {
        let page = fixture.call(who, Method::GET, &room, None).await;
        assert!(page.text.contains("Break-glass access."), "{who:?}");
        assert!(page.text.contains("legal hold review"), "{who:?}");
    }
    // Roles and membership through the room's forms.
    let steps: [&[(&str, &str)]; 3] = [
        &[("type", "role_assigned"), ("person", "rita"), ("role", "scribe")],
        &[("type", "role_revoked"), ("holding", "rita scribe")],
        &[
            ("type", "member_removed"),
            ("person", "rita"),
            ("reason", "no longer needed"),
        ],
    ];
    for fields in steps {
        let reply = fixture.form(Who::Member, &events, fields, true).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{fields:?}: {}", reply.text);
    }
    let page = fixture.call(Who::Member, Method::GET, &room, None).await;
    for line in [
        "assigned scribe to rita",
        "revoked scribe from rita",
        "removed member rita",
    ] {
        assert!(page.text.contains(line), "{line}");
    }
    // A refusal re-renders the room with the domain's words.
    let refused = fixture
        .form(Who::Member, &events, &[("type", "step_started"), ("step", "3")], true)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused
            .text
            .contains("waits for 1 Stop the attack in progress (pending), 2 Cut off the attack vector (pending)")
    );
    // Viewers see the room but get no forms, and a post from them is refused.
    let viewer = fixture.call(Who::Viewer, Method::GET, &room, None).await;
    assert!(!viewer.text.contains("Start step 1"));
    let post = fixture
        .form(Who::Viewer, &events, &[("type", "step_started"), ("step", "1")], true)
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
}

pub async fn an_account_that_must_enrol_a_second_factor_is_sent_to_enrol(backend: Backend) {
    use axum::body::Body;
    use axum::http::{Request, header};
    let fixture = Fixture::new(&backend, true).await;
    let patch = fixture
        .call(
            Who::Admin,
            Method::PATCH,
            "/api/v1/users/rita",
            Some(serde_json::json!({"totp_required": true})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text);
    let login = fixture
        .call(
            Who::Anonymous,
            Method::POST,
            "/api/v1/session",
            Some(serde_json::json!({"name": "rita", "password": crate::fixture::PASSWORD})),
        )
        .await;
    assert_eq!(login.json["second_factor_pending"], true);
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: &str| {
        Request::builder()
            .uri(path)
            .header(header::COOKIE, cookie.clone())
            .body(Body::empty())
            .unwrap()
    };
    for path in [
        "/incidents",
        "/account/tokens",
        &format!("/incidents/{}", fixture.operational),
    ] {
        let reply = fixture.send(get(path)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers["location"], "/account/totp", "{path}");
    }
    let enrol = fixture.send(get("/account/totp")).await;
    assert_eq!(enrol.status, StatusCode::OK);
    assert!(
        enrol
            .text
            .contains("needs a second factor before you can see incidents")
    );
}

pub async fn the_room_shares_an_item_once_and_never_a_red_one(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let room = format!("/incidents/{}", fixture.incident);
    let page = fixture.call(Who::Member, Method::GET, &room, None).await;
    let action = format!("{room}/evidence/{}/share", fixture.evidence);
    assert!(
        page.text.contains(&format!("action=\"{action}\"")),
        "the room offers the form"
    );
    assert!(page.text.contains("Place legal hold"), "the commander may hold");
    let viewer = fixture.call(Who::Viewer, Method::GET, &room, None).await;
    assert!(!viewer.text.contains(&action), "a viewer gets no share form");

    let fields = [
        ("recipient", "J. Doe, Outside Forensics"),
        ("purpose", "independent analysis"),
        ("valid_for_hours", "24"),
    ];
    let issued = fixture.form(Who::Member, &action, &fields, true).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let start = issued.text.find("/share/cdn_share_").expect("the link is on the page");
    let token: String = issued.text[start + "/share/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    assert!(issued.text.contains("shown only this once"));
    let again = fixture.call(Who::Member, Method::GET, &room, None).await;
    assert!(!again.text.contains(&token), "the link is shown once, never again");
    assert!(again.text.contains("shared evidence"), "the journal records the share");
    let shared = fixture
        .call(Who::Anonymous, Method::GET, &format!("/share/{token}"), None)
        .await;
    assert_eq!(shared.status, StatusCode::OK);
    assert_eq!(shared.text, "fixture evidence");

    // A TLP:RED item has no share form, and a forged post is refused in the domain's words.
    let red = fixture
        .call(
            Who::Member,
            Method::POST,
            &format!(
                "/api/v1/incidents/{}/evidence?source=host%20db-3&tlp=TLP:RED",
                fixture.incident
            ),
            None,
        )
        .await;
    assert_eq!(red.status, StatusCode::CREATED, "{}", red.text);
    let red_action = format!("{room}/evidence/{}/share", red.json["sha256"].as_str().unwrap());
    let page = fixture.call(Who::Member, Method::GET, &room, None).await;
    assert!(!page.text.contains(&red_action));
    assert!(page.text.contains("TLP:RED items are never shared"));
    let refused = fixture.form(Who::Member, &red_action, &fields, true).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains("TLP:RED evidence is never shared"),
        "{}",
        refused.text
    );

    // Holds work from the room too, through the one event form.
    let held = fixture
        .form(
            Who::Member,
            &format!("{room}/events"),
            &[
                ("type", "evidence_legal_hold_placed"),
                ("sha256", fixture.evidence.as_str()),
                ("reason", "case 42"),
            ],
            true,
        )
        .await;
    assert_eq!(held.status, StatusCode::SEE_OTHER, "{}", held.text);
    let page = fixture.call(Who::Member, Method::GET, &room, None).await;
    assert!(page.text.contains("Legal hold"), "the list shows the hold");
    assert!(page.text.contains("Release legal hold"));
}
