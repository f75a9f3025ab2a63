//! The marketer console: the built single-page app (`console/dist`, `npm run build`) served at
//! `/console`. Static files need no token; the app's API calls carry the bearer token.
//!
//! Vite names every built file under `assets/` by its content hash, so those are cached for a
//! year (`immutable`); `index.html` and other unhashed files are `no-cache` so a new build is
//! picked up at the next load. Any other `/console/…` path is a client-side route and gets
//! `index.html` (a missing `assets/…` file stays a 404, never HTML under a script's name).
//! Without a built folder `/console` answers a short page saying how to build it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the built console is read from (flag and environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Folder of the built web console (`npm run build` in console/), served at /console.
    #[arg(long, env = "CONSOLE_DIR", default_value = "console/dist")]
    pub console_dir: PathBuf,
}

/// Cache policy of content-hashed files: they never change under the same name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of everything else: revalidate on each load.
const NO_CACHE: &str = "no-cache";

/// The routes under `/console`, reading files from `dir` on each request (a rebuild needs no
/// restart).
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    if dir.join("index.html").is_file() {
        tracing::info!(console_dir = %dir.display(), "serving the console at /console");
    } else {
        tracing::warn!(
            console_dir = %dir.display(),
            "the console is not built (no index.html); /console explains how to build it"
        );
    }
    let dir = Arc::new(dir.to_path_buf());
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
        .with_state(dir)
}

async fn index(State(dir): State<Arc<PathBuf>>) -> Response {
    serve_index(&dir).await
}

async fn file(State(dir): State<Arc<PathBuf>>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(relative) = safe_relative(&path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let full = dir.join(&relative);
    let is_asset = relative.starts_with("assets");
    match tokio::fs::read(&full).await {
        Ok(bytes) => {
            let cache = if is_asset { IMMUTABLE } else { NO_CACHE };
            with_headers(StatusCode::OK, content_type(&relative), cache, bytes)
        }
        // A hashed file that is not there is a stale reference: 404, not the app's HTML.
        Err(_) if is_asset || relative.extension().is_some() => {
            (StatusCode::NOT_FOUND, "not found").into_response()
        }
        // A client-side route (`/console/campaigns/…`): the app decides what to show.
        Err(_) => serve_index(&dir).await,
    }
}

async fn serve_index(dir: &Path) -> Response {
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(bytes) => with_headers(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, bytes),
        Err(_) => with_headers(
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            NO_CACHE,
            not_built_page(dir).into_bytes(),
        ),
    }
}

fn not_built_page(dir: &Path) -> String {
    let dir = html_escape(&dir.display().to_string());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Console not built</title></head>\
         <body><h1>The console is not built</h1>\
         <p>campaign-svc serves the web console from <code>{dir}</code> (setting \
         <code>CONSOLE_DIR</code>), which has no <code>index.html</code>.</p>\
         <p>Build it with <code>scripts/console.sh</code> (or <code>cd console &amp;&amp; npm ci \
         &amp;&amp; npm run build</code>), or start everything with \
         <code>scripts/run-local.sh</code>, which builds it first.</p></body></html>"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn with_headers(
    status: StatusCode,
    kind: &'static str,
    cache: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The request path as a relative path of plain names: no `..`, no root, no empty path; `None`
/// for anything that could leave the folder.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let candidate = Path::new(path);
    let mut clean = PathBuf::new();
    for component in candidate.components() {
        match component {
            Component::Normal(name) => clean.push(name),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!clean.as_os_str().is_empty() && !path.contains('\\')).then_some(clean)
}

/// The types a Vite build produces; anything else is served as bytes.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_are_refused() {
        assert_eq!(safe_relative("../etc/passwd"), None);
        assert_eq!(safe_relative("assets/../../x"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative("a\\..\\b"), None);
        assert_eq!(safe_relative(""), None);
        assert_eq!(
            safe_relative("assets/index-abc.js"),
            Some(PathBuf::from("assets/index-abc.js"))
        );
    }
}
