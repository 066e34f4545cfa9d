//! Evidence in the browser: the upload and share forms of the incident room. The file streams
//! from the multipart body into the locker, never held whole in memory; the CSRF token must be
//! the form's first field, so nothing is stored before the form is known to come from Cordon.
//! A share link is shown once, on the page that answers the form, and never again.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use cordon_app::{AppError, EvidenceMeta};
use cordon_evidence::Tlp;
use cordon_store::Store;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::auth::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::extract::{WebError, WebForm, WebUser, csrf_field, html, refused_form};
use crate::web::room::IssuedLink;

/// The web upload route; like the API's, it is exempt from the body limit.
pub const UPLOAD_PATH: &str = "/incidents/{incident}/evidence";

fn invalid(message: impl Into<String>) -> WebError {
    WebError::Api(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message))
}

pub async fn upload<S: Store>(
    State(state): State<AppState<S>>,
    user: WebUser,
    ClientAddr(from): ClientAddr,
    Path(reference): Path<String>,
    request: Request,
) -> Result<Response, WebError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        // Not a file upload: still check that the form came from Cordon, then explain.
        let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|_| WebError::Api(ApiError::bad_request("the form could not be read")))?;
        if !cordon_auth::csrf::verify(state.csrf_key(), &user.digest, &csrf_field(&bytes)) {
            return Err(refused_form());
        }
        state.service().resolve(user.principal.person(), &reference).await?;
        user.require_write()?;
        return Err(invalid(
            "choose a file: the upload form must be sent as multipart/form-data",
        ));
    }
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|err| WebError::Api(ApiError::bad_request(err.body_text())))?;
    let mut field = next_field(&mut multipart).await?.ok_or_else(refused_form)?;
    let token = if field.name() == Some("csrf_token") {
        field.text().await.unwrap_or_default()
    } else {
        String::new()
    };
    if !cordon_auth::csrf::verify(state.csrf_key(), &user.digest, &token) {
        return Err(refused_form());
    }
    let incident = state.service().resolve(user.principal.person(), &reference).await?;
    user.require_write()?;
    let (mut source, mut tlp) = (String::new(), String::from("TLP:AMBER+STRICT"));
    let name = loop {
        field = next_field(&mut multipart)
            .await?
            .ok_or_else(|| invalid("choose a file to upload"))?;
        match field.name().unwrap_or_default() {
            "source" => source = field.text().await.unwrap_or_default(),
            "tlp" => tlp = field.text().await.unwrap_or_default(),
            "file" => break field.file_name().unwrap_or("upload").to_owned(),
            _ => {}
        }
    };
    if source.trim().is_empty() {
        return Err(invalid(
            "say where the evidence was taken from (source), before the file field",
        ));
    }
    let tlp: Tlp = tlp
        .parse()
        .map_err(|_| invalid(format!("{tlp:?} is not a TLP 2.0 label")))?;
    let now = cordon_app::now();
    let meta = EvidenceMeta {
        name,
        source,
        collected_by: user.principal.person().clone(),
        collected_at: now,
        tlp,
    };
    // The field borrows the multipart body, so it is pumped into a channel that the locker
    // reads from its blocking thread.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let stream = Box::pin(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    }));
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let pump = async move {
        loop {
            let item = match field.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(err) => Err(std::io::Error::other(err.body_text())),
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    let person = user.principal.person().clone();
    let stored = state
        .service()
        .add_evidence(&person, incident.id.as_str(), reader, meta, &from, now);
    let ((), stored) = tokio::join!(pump, stored);
    stored?;
    Ok(Redirect::to(&format!("/incidents/{}#evidence", incident.id.as_str())).into_response())
}

async fn next_field<'a>(multipart: &'a mut Multipart) -> Result<Option<axum::extract::multipart::Field<'a>>, WebError> {
    multipart
        .next_field()
        .await
        .map_err(|err| WebError::Api(ApiError::bad_request(err.body_text())))
}

#[derive(serde::Deserialize)]
pub struct ShareForm {
    recipient: String,
    purpose: String,
    #[serde(default)]
    valid_for_hours: String,
}

/// Issues a share link from the room and shows it once; a refusal (a TLP:RED item, a missing
/// recipient or purpose) re-renders the room with the domain's words, like any other action.
pub async fn share<S: Store>(
    State(state): State<AppState<S>>,
    Path((reference, sha256)): Path<(String, String)>,
    WebForm { user, form }: WebForm<ShareForm>,
) -> Result<Response, WebError> {
    // Need-to-know first: a non-member learns nothing, not even that they may not write.
    let row = state.service().resolve(user.principal.person(), &reference).await?;
    user.require_write()?;
    let hours = match form.valid_for_hours.trim() {
        "" => 72,
        text => text
            .parse::<u32>()
            .map_err(|_| invalid("the link's lifetime must be a whole number of hours"))?,
    };
    let issued = state
        .service()
        .share_evidence(
            user.principal.person(),
            row.id.as_str(),
            &sha256,
            &form.recipient,
            &form.purpose,
            hours,
            true,
            cordon_app::now(),
        )
        .await;
    match issued {
        Ok(issued) => {
            let link = IssuedLink {
                url: format!("{}/share/{}", state.config().public_url, issued.token.expose()),
                recipient: form.recipient,
                expires_at: issued.expires_at,
            };
            let markup = crate::web::render_room_with(&state, &user, row.id.as_str(), None, Some(&link)).await?;
            Ok(html(StatusCode::CREATED, markup))
        }
        Err(AppError::Refused(refusal)) => {
            let message = refusal.to_string();
            let status = ApiError::from(AppError::Refused(refusal)).status;
            let markup = crate::web::render_room_with(&state, &user, row.id.as_str(), Some(&message), None).await?;
            Err(WebError::Page(status, markup))
        }
        Err(err) => Err(err.into()),
    }
}
