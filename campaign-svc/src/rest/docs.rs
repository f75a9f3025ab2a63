//! `GET /api/marketing/openapi.json` and the interactive reference at `/api/marketing/docs`
//! (Swagger UI, vendored under `campaign-svc/assets/` and embedded in the binary: the page loads
//! nothing from anywhere else). Both are open: the document describes the API, it grants nothing.

use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// The assets' `ETag`: the vendored Swagger UI's version (see `assets/swagger-ui/README.md`).
const SWAGGER_UI_VERSION: &str = "\"swagger-ui-5.35.0\"";

const PAGE: &str = include_str!("../../assets/docs.html");
const INIT_JS: &str = include_str!("../../assets/docs-init.js");
const BUNDLE_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

/// The document, serialised once at start-up.
#[derive(Clone)]
pub struct Document(Arc<Vec<u8>>);

impl Document {
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Self {
        // A document of plain maps and strings always serialises.
        Document(Arc::new(serde_json::to_vec(doc).unwrap_or_default()))
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/marketing/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        doc.0.as_ref().clone(),
    )
        .into_response()
}

/// The interactive reference (Swagger UI) of this document.
#[utoipa::path(
    get,
    path = "/api/marketing/docs",
    tag = "service",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn page() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

/// The page's scripts and style sheet, cached a day and revalidated by `ETag`.
#[utoipa::path(
    get,
    path = "/api/marketing/docs/{asset}",
    tag = "service",
    params(("asset" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `init.js`")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag"),
        (status = 404, description = "No such asset", body = crate::error::ErrorBody),
    )
)]
pub async fn asset(Path(asset): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    let (content_type, body): (&'static str, &'static [u8]) = match asset.as_str() {
        "swagger-ui-bundle.js" => ("text/javascript; charset=utf-8", BUNDLE_JS),
        "swagger-ui.css" => ("text/css; charset=utf-8", CSS),
        "init.js" => ("text/javascript; charset=utf-8", INIT_JS.as_bytes()),
        _ => return Err(Error::not_found("docs asset", asset)),
    };
    let tag = HeaderValue::from_static(SWAGGER_UI_VERSION);
    let cache = HeaderValue::from_static("public, max-age=86400");
    if headers.get(IF_NONE_MATCH) == Some(&tag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(ETAG, tag), (CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (ETAG, tag),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response())
}
