//! Who is at the browser, and the forms they post: the signed-in person (session cookie only),
//! form bodies whose hidden `csrf_token` field is checked before anything else is read, and
//! the pre-session token that protects the sign-in and setup forms.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cordon_auth::secret;
use cordon_store::Store;
use maud::Markup;
use serde::de::DeserializeOwned;

use crate::auth::{Principal, Via};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::view;

/// The cookie that binds the CSRF token of forms shown before sign-in (sign-in, setup).
pub const FORM_COOKIE: &str = "cordon_form";

/// A person signed in with a browser session. API tokens do not open the web UI.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub principal: Principal,
    /// The session digest, which the CSRF token is bound to.
    pub digest: String,
    pub second_factor: bool,
    /// The CSRF token every form on the page carries.
    pub csrf: String,
}

impl WebUser {
    pub fn name(&self) -> &str {
        self.principal.user.name.as_str()
    }

    pub fn is_admin(&self) -> bool {
        self.principal.user.role == cordon_domain::GlobalRole::Admin
    }

    pub fn may_write(&self) -> bool {
        self.principal.user.role != cordon_domain::GlobalRole::Viewer
    }

    /// May read: the second factor is settled (else the person is sent to enrol one).
    pub fn require_read(&self) -> Result<(), WebError> {
        if !self.second_factor {
            return Err(WebError::EnrolFirst);
        }
        Ok(self.principal.require_read()?)
    }

    pub fn require_write(&self) -> Result<(), WebError> {
        self.require_read()?;
        Ok(self.principal.require_write()?)
    }

    pub fn require_admin(&self) -> Result<(), WebError> {
        self.require_read()?;
        Ok(self.principal.require_admin()?)
    }
}

impl<S: Store> FromRequestParts<AppState<S>> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<WebUser, WebError> {
        // Only the cookie counts here: a bearer token is for programs, not for pages.
        let mut headers = HeaderMap::new();
        for value in parts.headers.get_all(header::COOKIE) {
            headers.append(header::COOKIE, value.clone());
        }
        let principal = crate::auth::authenticate(&headers, state)
            .await?
            .ok_or(WebError::SignIn)?;
        let Via::Session { digest, second_factor } = principal.via.clone() else {
            return Err(WebError::SignIn);
        };
        let csrf = cordon_auth::csrf::token(state.csrf_key(), &digest);
        Ok(WebUser {
            principal,
            digest,
            second_factor,
            csrf,
        })
    }
}

/// A form posted by a signed-in person, accepted only with the session's CSRF token.
pub struct WebForm<T> {
    pub user: WebUser,
    pub form: T,
}

impl<S: Store, T: DeserializeOwned> FromRequest<AppState<S>> for WebForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState<S>) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let bytes = read_body(body).await?;
        if !cordon_auth::csrf::verify(state.csrf_key(), &user.digest, &csrf_field(&bytes)) {
            return Err(refused_form());
        }
        Ok(WebForm {
            user,
            form: parse_form(&bytes)?,
        })
    }
}

/// A form posted before sign-in (sign-in, setup), accepted only with the token bound to the
/// browser's form cookie. This stops another site from signing a browser into an account of
/// its choosing.
pub struct PublicForm<T> {
    pub form: T,
    pub headers: HeaderMap,
}

impl<S: Store, T: DeserializeOwned> FromRequest<AppState<S>> for PublicForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState<S>) -> Result<Self, WebError> {
        let (parts, body) = request.into_parts();
        let bytes = read_body(body).await?;
        let valid = form_cookie(&parts.headers).is_some_and(|cookie| {
            cordon_auth::csrf::verify(state.csrf_key(), &pre_session(cookie), &csrf_field(&bytes))
        });
        if !valid {
            return Err(refused_form());
        }
        Ok(PublicForm {
            form: parse_form(&bytes)?,
            headers: parts.headers,
        })
    }
}

/// The CSRF token for a page shown before sign-in, and the `Set-Cookie` value when the browser
/// has no form cookie yet.
pub fn public_csrf<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<(String, Option<String>), WebError> {
    if let Some(cookie) = form_cookie(headers) {
        return Ok((cordon_auth::csrf::token(state.csrf_key(), &pre_session(cookie)), None));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    let cookie = hex::encode(bytes);
    let token = cordon_auth::csrf::token(state.csrf_key(), &pre_session(&cookie));
    Ok((
        token,
        Some(format!("{FORM_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict")),
    ))
}

fn pre_session(cookie: &str) -> String {
    // Session digests are bare hex, so this prefix keeps the two token spaces apart.
    format!("pre-session:{}", secret::digest(cookie))
}

fn form_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == FORM_COOKIE && value.len() == 64)
        .map(|(_, value)| value)
}

pub(crate) async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, WebError> {
    // The body limit layer bounds the size before this point.
    axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| WebError::Api(ApiError::bad_request("the form could not be read")))
}

pub(crate) fn csrf_field(bytes: &[u8]) -> String {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == "csrf_token"))
        .map(|(_, value)| value)
        .unwrap_or_default()
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WebError> {
    serde_urlencoded::from_bytes(bytes).map_err(|err| {
        WebError::Api(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("the form is not complete: {err}"),
        ))
    })
}

pub(crate) fn refused_form() -> WebError {
    WebError::Api(ApiError::forbidden(
        "this form did not come from this page of Cordon, or it expired: go back, reload the page and send it again",
    ))
}

/// Everything a page handler can answer instead of its page.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    /// Signed in, but the account must enrol a second factor first.
    EnrolFirst,
    /// An error with its status, shown as a page.
    Api(ApiError),
    /// A page already rendered, with its status.
    Page(StatusCode, Markup),
}

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> WebError {
        WebError::Api(err)
    }
}

impl From<cordon_app::AppError> for WebError {
    fn from(err: cordon_app::AppError) -> WebError {
        WebError::Api(err.into())
    }
}

impl From<cordon_store::StoreError> for WebError {
    fn from(err: cordon_store::StoreError) -> WebError {
        WebError::Api(err.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn => Redirect::to("/sign-in").into_response(),
            WebError::EnrolFirst => Redirect::to("/account/totp").into_response(),
            WebError::Page(status, markup) => html(status, markup),
            WebError::Api(err) if err.status == StatusCode::NOT_FOUND => not_found(),
            WebError::Api(err) if err.status == StatusCode::UNAUTHORIZED => Redirect::to("/sign-in").into_response(),
            WebError::Api(err) => {
                let mut response = html(err.status, view::error_page(err.status, &err.message));
                if let Some(seconds) = err.retry_after {
                    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                }
                response
            }
        }
    }
}

/// The one "not found" page: the same bytes for a missing incident, a hidden one and an
/// unknown address, whoever asks.
pub fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, view::not_found_page())
}

pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
