//! The router with its middleware, and `serve`, which runs it on a bound listener until the
//! shutdown future resolves.

use std::future::Future;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use cordon_store::Store;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::routes;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes whose bodies are evidence, exempt from the API's body limit.
const EVIDENCE_BODIES: [&str; 3] = [
    crate::evidence_api::UPLOAD_PATH,
    crate::evidence_api::UPLOAD_PIECE_PATH,
    crate::web::EVIDENCE_UPLOAD_PATH,
];

/// The whole API as one router.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    let max_body = state.config().max_body_bytes;
    let mut router = Router::new();
    for (path, handler) in routes::grouped::<S>() {
        // Evidence uploads stream to the locker, which enforces its own (much larger) limit;
        // every other body is capped here. axum's own default limit (which the multipart
        // extractor honours) is lifted for them too.
        let handler = if EVIDENCE_BODIES.contains(&path) {
            handler.layer(axum::extract::DefaultBodyLimit::disable())
        } else {
            handler.layer(RequestBodyLimitLayer::new(max_body))
        };
        router = router.route(path, handler);
    }
    router
        .fallback(crate::web::fallback)
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics::<S>))
        .layer(middleware::from_fn(security_headers))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The route template, never the raw path: paths can carry codenames.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", request_id = %id, method = %request.method(), route = %route)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// The metrics router, for its own listener.
pub fn metrics_router<S: Store>(state: AppState<S>) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::<S>))
        .with_state(state)
}

async fn metrics<S: Store>(State(state): State<AppState<S>>) -> Response {
    let counts = state.store().operational_counts().await.unwrap_or_default();
    let mut response = Response::new(state.metrics().render(&counts).into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn record_metrics<S: Store>(State(state): State<AppState<S>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state
        .metrics()
        .record(&route, &method, response.status().as_u16(), started.elapsed());
    response
}

/// Security headers on every response: a strict CSP with no inline script, no framing, no
/// MIME sniffing, no referrer, and no caching of API answers.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Serves the API on `listener` and metrics on `metrics_listener` until `shutdown` resolves;
/// in-flight requests are finished first.
pub async fn serve<S: Store>(
    state: AppState<S>,
    listener: TcpListener,
    metrics_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_app = metrics_router(state.clone());
    let metrics_task = tokio::spawn(async move {
        axum::serve(metrics_listener, metrics_app)
            .with_graceful_shutdown(async {
                let _ = metrics_stopped.await;
            })
            .await
    });
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    let _ = stop_metrics.send(());
    let _ = metrics_task.await;
    result
}
