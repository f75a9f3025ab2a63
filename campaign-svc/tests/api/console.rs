//! The web console's static files at /console: no token needed, hashed assets cached for a year,
//! index.html revalidated, client-side routes answered with index.html, a page saying how to
//! build the console when it is not built.

use std::path::PathBuf;

use testkit::{TestDb, TestQueues, http_client_no_redirects, spawn_app_with};

const INDEX: &str = "<!doctype html><title>console</title><script type=\"module\" \
                     src=\"/console/assets/index-Ab12Cd34.js\"></script>";
const SCRIPT: &str = "console.log('营销');";

/// A built console (`<tmp>/dist`) in its own temporary folder, beside a file it must not serve
/// (`<tmp>/secret.txt`); removed afterwards.
struct BuiltConsole {
    root: PathBuf,
    dist: PathBuf,
}

impl BuiltConsole {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!("console-{}", uuid::Uuid::now_v7()));
        let dist = root.join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("temporary folder");
        std::fs::write(dist.join("index.html"), INDEX).expect("index.html");
        std::fs::write(dist.join("assets/index-Ab12Cd34.js"), SCRIPT).expect("script");
        std::fs::write(dist.join("favicon.svg"), "<svg/>").expect("icon");
        std::fs::write(root.join("secret.txt"), "no").expect("a file outside");
        BuiltConsole { root, dist }
    }
}

impl Drop for BuiltConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn fetch(url: String) -> (u16, reqwest::header::HeaderMap, String) {
    // No Authorization header: the console's files are public, its API calls carry the token.
    let resp = http_client_no_redirects()
        .get(url)
        .send()
        .await
        .expect("request is sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_console_is_served_with_caching_headers_and_an_app_fallback() {
    let built = BuiltConsole::new();
    let dir = built.dist.clone();
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), move |c| {
        c.console.console_dir = dir;
    })
    .await;

    let (status, headers, _) = fetch(app.url("/console")).await;
    assert_eq!(status, 308);
    assert_eq!(header(&headers, "location"), "/console/");

    let (status, headers, body) = fetch(app.url("/console/")).await;
    assert_eq!(status, 200);
    assert_eq!(body, INDEX);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert_eq!(header(&headers, "cache-control"), "no-cache");

    let (status, headers, body) = fetch(app.url("/console/assets/index-Ab12Cd34.js")).await;
    assert_eq!(status, 200);
    assert_eq!(body, SCRIPT);
    assert!(header(&headers, "content-type").starts_with("text/javascript"));
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );

    // An unhashed file outside assets/ is revalidated like index.html.
    let (status, headers, _) = fetch(app.url("/console/favicon.svg")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "image/svg+xml");
    assert_eq!(header(&headers, "cache-control"), "no-cache");

    // A client-side route gets the app, which shows the page.
    let (status, headers, body) = fetch(app.url("/console/campaigns/0193abcd")).await;
    assert_eq!(status, 200);
    assert_eq!(body, INDEX);
    assert_eq!(header(&headers, "cache-control"), "no-cache");

    // A missing script is a 404, never the app's HTML under a script's name.
    let (status, _, body) = fetch(app.url("/console/assets/index-Old00000.js")).await;
    assert_eq!(status, 404);
    assert_ne!(body, INDEX);

    // Nothing outside the folder can be read.
    for path in [
        "/console/../secret.txt",
        "/console/%2e%2e/secret.txt",
        "/console/assets/..%2f..%2fsecret.txt",
    ] {
        let (status, _, body) = fetch(app.url(path)).await;
        assert_ne!(body, "no", "{path} read a file outside the console folder");
        assert!(status == 404 || body == INDEX, "{path}: {status}");
    }

    // The API still wants its token.
    let (status, _, _) = fetch(app.url("/api/marketing/campaigns")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_a_built_console_the_page_says_how_to_build_it() {
    let missing = std::env::temp_dir().join(format!("no-console-{}", uuid::Uuid::now_v7()));
    let dir = missing.clone();
    let app = spawn_app_with(TestDb::new(), TestQueues::new(), move |c| {
        c.console.console_dir = dir;
    })
    .await;
    for path in ["/console/", "/console/campaigns/new"] {
        let (status, headers, body) = fetch(app.url(path)).await;
        assert_eq!(status, 404, "{path}");
        assert!(header(&headers, "content-type").starts_with("text/html"));
        assert!(body.contains("scripts/console.sh"), "{body}");
        assert!(body.contains("npm run build"), "{body}");
        assert!(body.contains(&missing.display().to_string()), "{body}");
    }
}
