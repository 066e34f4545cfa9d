//! The OpenAPI 3.1 document, generated from the route table so it cannot drift from the
//! routes: every route appears with its summary, path parameters, security and responses.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Value, json};

use crate::routes::{Policy, Route, Surface};

pub fn document<S>(routes: &[Route<S>], server_url: &str) -> Value {
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let method = route.method.as_str().to_lowercase();
        paths.entry(route.path).or_default().insert(method, operation(route));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Cordon API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Secure incident response. A security incident is visible only to its members: to anyone else every route answers 404, exactly as for an incident that does not exist.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "An API token (cdn_t_...)."},
                "session": {"type": "apiKey", "in": "cookie", "name": "cordon_session", "description": "A browser session; state-changing requests also need the x-csrf-token header."},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    }}},
                },
                "Event": {
                    "type": "object",
                    "required": ["type"],
                    "description": "A proposed change, e.g. {\"type\":\"step_started\",\"step\":3} or {\"type\":\"gate_overridden\",\"step\":3,\"gate\":\"contain-first\",\"reason\":\"...\"}.",
                    "properties": {"type": {"type": "string", "enum": EVENT_TYPES}},
                },
            },
        },
    })
}

/// The event types a client may post; `declared` and `break_glass` have their own routes.
const EVENT_TYPES: &[&str] = &[
    "severity_changed",
    "status_changed",
    "step_started",
    "step_completed",
    "step_skipped",
    "step_not_applicable",
    "step_validated",
    "step_reopened",
    "decision_recorded",
    "gate_overridden",
    "role_assigned",
    "role_revoked",
    "member_added",
    "member_removed",
    "member_excluded",
    "member_reinstated",
];

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// A web UI route: HTML pages and form posts for browsers, signed in with the session cookie.
/// Not signed in, they redirect to the sign-in page rather than answer 401; form posts need
/// the session's CSRF token in the `csrf_token` field.
fn page_operation<S>(route: &Route<S>) -> Value {
    let page = |description: &str| json!({"description": description, "content": {"text/html": {"schema": {"type": "string"}}}});
    let mut responses = serde_json::Map::new();
    responses.insert("200".to_owned(), page("the page"));
    responses.insert(
        "303".to_owned(),
        json!({"description": "done, or not signed in: go to the Location"}),
    );
    if route.method == Method::POST {
        responses.insert("403".to_owned(), page("no valid csrf_token field, or not allowed"));
        responses.insert("409".to_owned(), page("refused by a rule; the page says why"));
        responses.insert("422".to_owned(), page("a value is not valid; the page says which"));
    } else if route.policy != Policy::Public {
        responses.insert("403".to_owned(), page("signed in but not allowed"));
    }
    if route.path.contains('{') {
        responses.insert("404".to_owned(), page("no such thing, or you may not know it exists"));
    }
    let mut operation = json!({
        "operationId": format!("{} {}", route.method, route.path),
        "summary": route.summary,
        "tags": ["web"],
        "x-cordon-policy": format!("{:?}", route.policy),
        "parameters": path_parameters(route.path),
        "responses": responses,
    });
    if route.policy != Policy::Public {
        operation["security"] = json!([{"session": []}]);
    }
    if route.method == Method::POST {
        operation["requestBody"] = json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "required": ["csrf_token"],
            "properties": {"csrf_token": {"type": "string"}},
        }}}});
    }
    operation
}

fn operation<S>(route: &Route<S>) -> Value {
    if route.surface == Surface::Web {
        return page_operation(route);
    }
    let parameters = path_parameters(route.path);
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = serde_json::Map::new();
    let success = if route.method == Method::DELETE { "204" } else { "200" };
    responses.insert(success.to_owned(), json!({"description": "success"}));
    if route.method == Method::POST {
        responses.insert("201".to_owned(), json!({"description": "created"}));
        responses.insert("400".to_owned(), error("the body is not valid JSON or misses a field"));
        responses.insert(
            "409".to_owned(),
            error("refused by a rule (e.g. a gate), or a conflict"),
        );
        responses.insert("422".to_owned(), error("a value is not valid"));
    }
    if route.policy != Policy::Public {
        responses.insert(
            "401".to_owned(),
            error("not signed in, or the token is expired or revoked"),
        );
        responses.insert("403".to_owned(), error("signed in but not allowed (role, scope, CSRF)"));
    }
    if route.path.contains('{') {
        responses.insert("404".to_owned(), error("no such thing, or you may not know it exists"));
    }
    if route.path == "/api/v1/session" && route.method == Method::POST {
        responses.insert("429".to_owned(), error("too many failed sign-ins; see Retry-After"));
    }
    let mut operation = json!({
        "operationId": format!("{} {}", route.method, route.path),
        "summary": route.summary,
        "x-cordon-policy": format!("{:?}", route.policy),
        "parameters": parameters,
        "responses": responses,
    });
    if route.policy != Policy::Public {
        operation["security"] = json!([{"token": []}, {"session": []}]);
    }
    if matches!(route.method, Method::POST | Method::PATCH) && !route.path.ends_with("/enrol") {
        let schema = if route.path.ends_with("/events") {
            json!({"$ref": "#/components/schemas/Event"})
        } else {
            json!({"type": "object"})
        };
        operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    operation
}
