//! Who is asking: a browser session (cookie) or an API token (bearer), checked on every
//! request. Browser sessions must also present the CSRF token on anything that changes state.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use cordon_auth::secret::{self, TokenKind};
use cordon_domain::{GlobalRole, Person, Scope};
use cordon_store::{Store, User};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cordon_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session; `digest` identifies it (and binds its CSRF token).
    Session {
        digest: String,
        second_factor: bool,
    },
    Token {
        scope: Scope,
    },
}

impl Principal {
    pub fn person(&self) -> &Person {
        &self.user.name
    }

    /// May read: every signed-in caller whose second factor is settled.
    pub fn require_read(&self) -> Result<(), ApiError> {
        if let Via::Session {
            second_factor: false, ..
        } = self.via
        {
            return Err(ApiError::forbidden("enrol and confirm a second factor (TOTP) first"));
        }
        Ok(())
    }

    /// May change incidents: not a viewer, and a token must have write scope.
    pub fn require_write(&self) -> Result<(), ApiError> {
        self.require_read()?;
        if self.user.role == GlobalRole::Viewer {
            return Err(ApiError::forbidden("viewers cannot change incidents"));
        }
        if let Via::Token { scope: Scope::Read } = self.via {
            return Err(ApiError::forbidden("this token is read-only"));
        }
        Ok(())
    }

    /// May administer: an admin, and a token must have admin scope.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_read()?;
        if self.user.role != GlobalRole::Admin {
            return Err(ApiError::forbidden("administrators only"));
        }
        if let Via::Token { scope } = self.via {
            if scope != Scope::Admin {
                return Err(ApiError::forbidden("this token lacks admin scope"));
            }
        }
        Ok(())
    }
}

impl<S: Store> FromRequestParts<AppState<S>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Principal, ApiError> {
        let principal = authenticate(&parts.headers, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if let Via::Session { digest, .. } = &principal.via {
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe {
                let submitted = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !cordon_auth::csrf::verify(state.csrf_key(), digest, submitted) {
                    return Err(ApiError::forbidden(
                        "missing or invalid CSRF token (send the x-csrf-token header)",
                    ));
                }
            }
        }
        Ok(principal)
    }
}

/// Resolves the caller from a bearer token or the session cookie. `Ok(None)` when neither
/// is present or valid: expired, revoked, unknown and disabled all look the same.
pub async fn authenticate<S: Store>(headers: &HeaderMap, state: &AppState<S>) -> Result<Option<Principal>, ApiError> {
    let now = cordon_app::now();
    if let Some(token) = bearer(headers) {
        if !secret::has_kind(token, TokenKind::Api) {
            return Ok(None);
        }
        let Some(record) = state.store().token_by_digest(&secret::digest(token)).await? else {
            return Ok(None);
        };
        if record.revoked || record.expires_at.is_some_and(|expiry| expiry <= now) {
            return Ok(None);
        }
        return Ok(active_user(state, record.user.as_str()).await?.map(|user| Principal {
            user,
            via: Via::Token { scope: record.scope },
        }));
    }
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    if !secret::has_kind(cookie, TokenKind::Session) {
        return Ok(None);
    }
    let digest = secret::digest(cookie);
    let Some(session) = state.store().session(&digest).await? else {
        return Ok(None);
    };
    if session.expires_at <= now {
        state.store().delete_session(&digest).await?;
        return Ok(None);
    }
    Ok(active_user(state, session.user.as_str()).await?.map(|user| Principal {
        user,
        via: Via::Session {
            digest,
            second_factor: session.second_factor,
        },
    }))
}

async fn active_user<S: Store>(state: &AppState<S>, name: &str) -> Result<Option<User>, ApiError> {
    Ok(state.store().user(name).await?.filter(|user| !user.disabled))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The client's address, for throttling and for the chain of custody's "from where": the
/// connection's peer, or "unknown" when the server runs without connection info (in tests).
/// `X-Forwarded-For` is not read: Cordon has no trusted-proxy setting to tell a proxy's
/// header from a client's.
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddr, Self::Rejection> {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(ClientAddr(address))
    }
}
