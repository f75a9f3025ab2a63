//! The OpenAPI document at `/api/marketing/openapi.json` and the interactive reference at
//! `/api/marketing/docs`: served without a token, valid, complete (every route of the router is
//! in the document and the other way round) and loading nothing from elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use testkit::{TOKEN, TestApp, http_client, spawn_app};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document(app: &TestApp) -> Value {
    let resp = http_client()
        .get(app.url("/api/marketing/openapi.json"))
        .send()
        .await
        .expect("request is sent");
    assert_eq!(resp.status(), 200, "served without a token");
    let content_type = resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    resp.json().await.expect("the document is JSON")
}

/// Every `$ref` of `v`, with where it is.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push((at.to_owned(), v.as_str().unwrap_or("").to_owned()));
                } else {
                    refs(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Resolves a local JSON pointer (`#/components/schemas/Campaign`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut found = Vec::new();
    refs(&doc, "", &mut found);
    assert!(found.len() > 50, "the operations refer to their schemas");
    for (at, reference) in &found {
        assert!(
            resolve(&doc, reference).is_some(),
            "{at}: `{reference}` does not resolve"
        );
    }
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http", "{bearer}");
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            assert!(
                operation_ids.insert(op["operationId"].as_str().unwrap_or("").to_owned()),
                "{name}: operationId repeats"
            );
            let open = !path.starts_with("/api/marketing/")
                || path == "/api/marketing/openapi.json"
                || path.starts_with("/api/marketing/docs");
            let security = &op["security"];
            if open {
                assert_eq!(security, &serde_json::json!([]), "{name} needs no token");
            } else {
                assert_eq!(
                    security,
                    &serde_json::json!([{"bearer": []}]),
                    "{name} needs the bearer token"
                );
                assert_eq!(
                    op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{name}: 401"
                );
            }
            if method == "post" && !open {
                let params = op["parameters"].as_array().expect("parameters");
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                    "{name} takes an Idempotency-Key"
                );
            }
            let for_people = path.starts_with("/t/") || path.starts_with("/u/");
            if !for_people {
                assert_eq!(
                    op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{name}: every error has the error body"
                );
            }
        }
    }

    // The conventions, where they apply.
    let create = &doc["paths"]["/api/marketing/campaigns"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CampaignBody"
    );
    assert!(
        create["responses"]["201"]["headers"]["Location"].is_object(),
        "{create}"
    );
    let read = &doc["paths"]["/api/marketing/campaigns/{id}"]["get"];
    assert!(
        read["responses"]["200"]["headers"]["ETag"].is_object(),
        "{read}"
    );
    let update = &doc["paths"]["/api/marketing/campaigns/{id}"]["put"];
    assert!(
        update["parameters"].as_array().is_some_and(|ps| ps
            .iter()
            .any(|p| p["name"] == "If-Match" && p["in"] == "header")),
        "{update}"
    );
    // A README example is the body's example.
    let example = &doc["components"]["schemas"]["CampaignBody"]["example"];
    assert_eq!(example["name"], "六月会员关怀短信", "{example}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_error_body_is_the_one_the_api_answers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schema = &doc["components"]["schemas"]["ErrorBody"];
    let detail = match &schema["properties"]["error"]["$ref"] {
        Value::String(r) => resolve(&doc, r).expect("ErrorDetail resolves"),
        _ => &schema["properties"]["error"],
    };
    let documented: BTreeSet<&str> = detail["properties"]
        .as_object()
        .expect("the error's fields")
        .keys()
        .map(String::as_str)
        .collect();
    // A 400 from a handler, a 401 from authentication and a 405 from the router itself.
    let client = http_client();
    let answers = [
        client
            .get(app.url("/api/marketing/campaigns/not-a-uuid"))
            .bearer_auth(TOKEN)
            .send(),
        client.get(app.url("/api/marketing/campaigns")).send(),
        client
            .patch(app.url("/api/marketing/campaigns"))
            .bearer_auth(TOKEN)
            .send(),
    ];
    for (answer, status) in futures::future::join_all(answers)
        .await
        .into_iter()
        .zip([400, 401, 405])
    {
        let resp = answer.expect("request is sent");
        assert_eq!(resp.status(), status);
        let body: Value = resp.json().await.expect("a JSON error body");
        let fields: BTreeSet<&str> = body["error"]
            .as_object()
            .expect("{\"error\": {…}}")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, documented, "{status}: {body}");
    }
}

/// The paths of the router, read from its `Debug` form (axum lists them in its route table).
fn router_paths(router: &axum::Router<campaign_svc::rest::RestState>) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    // The routes, not the fallback's own table that follows them.
    let (routes, _) = debug
        .split_once("fallback_router")
        .expect("axum's Router lists `path_router` then `fallback_router`");
    let mut paths = BTreeSet::new();
    for part in routes.split("RouteId(").skip(1) {
        let Some((_, rest)) = part.split_once("): \"") else {
            continue;
        };
        let Some((path, _)) = rest.split_once('"') else {
            continue;
        };
        if path.starts_with('/') && !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
    }
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_of_the_router_is_in_the_document() {
    let (router, generated) = campaign_svc::rest::openapi();
    let routed = router_paths(&router);
    assert!(
        routed.contains("/api/marketing/campaigns") && routed.contains("/webhooks/{provider}"),
        "the router's paths are read: {routed:?}"
    );
    let generated = serde_json::to_value(&generated).expect("the document serialises");
    let documented: BTreeSet<String> = generated["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes missing from the document (add the handler with `.routes(routes!(…))` and \
         `#[utoipa::path]`)"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented paths no route serves"
    );

    // And each path's methods: what the running service answers other than 405 is documented.
    let app = spawn_app().await;
    let served = document(&app).await;
    assert_eq!(
        served["paths"], generated["paths"],
        "the served document is the generated one"
    );
    let client = http_client();
    let mut undocumented = BTreeMap::new();
    for path in &routed {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "0196f3a8-1c2d-7e4f-8a9b-0c1d2e3f4a5b"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let resp = client
                .request(
                    method.to_uppercase().parse().expect("a method"),
                    app.url(&concrete),
                )
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("request is sent");
            let routed = resp.status() != 405;
            let documented = served["paths"][path].get(method).is_some();
            if routed != documented {
                undocumented.insert(
                    format!("{} {path}", method.to_uppercase()),
                    resp.status().as_u16(),
                );
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "methods routed but not documented, or documented but answered 405: {undocumented:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_page_loads_only_its_own_assets() {
    let app = spawn_app().await;
    let client = http_client();
    let resp = client
        .get(app.url("/api/marketing/docs"))
        .send()
        .await
        .expect("request is sent");
    assert_eq!(resp.status(), 200, "served without a token");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let page = resp.text().await.expect("the page");
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"),
        "no external URL in the page: {page}"
    );
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            let url = part.split('"').next().unwrap_or("");
            assert!(
                url.starts_with('/') && !url.starts_with("//"),
                "`{url}` is served by the service itself"
            );
            assets.push(url.to_owned());
        }
    }
    assert_eq!(
        assets.len(),
        3,
        "the style sheet, Swagger UI and its set-up: {assets:?}"
    );
    for asset in &assets {
        let resp = client
            .get(app.url(asset))
            .send()
            .await
            .expect("request is sent");
        assert_eq!(resp.status(), 200, "{asset}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let content_type = header("content-type");
        assert!(
            content_type.starts_with("text/javascript") || content_type.starts_with("text/css"),
            "{asset}: {content_type}"
        );
        assert!(
            header("cache-control").contains("max-age="),
            "{asset} is cached"
        );
        let tag = header("etag");
        assert!(!tag.is_empty(), "{asset} has an ETag");
        let body = resp.bytes().await.expect("the asset");
        assert!(body.len() > 100, "{asset}");
        if asset.ends_with("init.js") {
            let script = String::from_utf8_lossy(&body);
            assert!(
                script.contains("\"/api/marketing/openapi.json\""),
                "{script}"
            );
            assert!(
                !script.contains("http://") && !script.contains("https://"),
                "{script}"
            );
        }
        let again = client
            .get(app.url(asset))
            .header("if-none-match", &tag)
            .send()
            .await
            .expect("request is sent");
        assert_eq!(again.status(), 304, "{asset} revalidates by its ETag");
    }
    let missing = client
        .get(app.url("/api/marketing/docs/nothing.js"))
        .send()
        .await
        .expect("request is sent");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("the error body");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

#[test]
fn the_docs_document_the_document_and_the_reference() {
    let readme = include_str!("../../../README.md");
    let guide = include_str!("../../../docs/api.md");
    for url in ["/api/marketing/openapi.json", "/api/marketing/docs"] {
        assert!(readme.contains(url), "README mentions {url}");
    }
    for url in [
        "/api/marketing/openapi.json",
        "/api/marketing/docs",
        "scripts/schemathesis.sh",
    ] {
        assert!(guide.contains(url), "docs/api.md explains {url}");
    }
}

/// The console's API client is generated from `console/openapi.json` (`npm run gen`), which must
/// be the document the service serves, so the client cannot drift from the API. After an API
/// change: `UPDATE_OPENAPI=1 cargo test -p campaign-svc --test api openapi::the_console` writes
/// it anew.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_client_is_generated_from_the_served_document() {
    let app = spawn_app().await;
    let served = document(&app).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../console/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&served).expect("the document serialises");
        std::fs::write(path, text + "\n").expect("console/openapi.json is written");
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(path).expect("console/openapi.json is in the repository"),
    )
    .expect("console/openapi.json is JSON");
    assert!(
        committed == served,
        "console/openapi.json differs from the served document: run \
         `UPDATE_OPENAPI=1 cargo test -p campaign-svc --test api openapi::the_console` and \
         rebuild the console"
    );
}
