//! The REST API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the `ToSchema` types they take and return: never written by hand.
//!
//! What every operation shares is added here once, from where the route sits in the router
//! (see [`behind_bearer`] and [`finish`]): the bearer token and `Idempotency-Key` of everything
//! under `/api/marketing`, and the JSON error body of every 4xx/5xx.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Schema, SchemaType};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Type,
};
use utoipa_axum::router::OpenApiRouter;

use super::RestState;

/// The name of the bearer scheme in `components.securitySchemes`.
pub const BEARER: &str = "bearer";

/// The document's frame: what the annotations do not say.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Marketing campaigns REST API",
        description = "Campaigns, customers, segments, templates, previews, triggers, executions, \
records, statistics, conversions, events and journeys under `/api/marketing` (bearer token), the pages \
behind links in messages (`/t/…`, `/u/…`: the signed token in the path is the authority) and \
the providers' webhooks (each authenticated as its vendor does). Every 4xx/5xx of the API and \
the webhooks carries the JSON `ErrorBody`. A `POST` under `/api/marketing` may carry an \
`Idempotency-Key`; a single resource answers with its `ETag`, which an update may send back \
in `If-Match`; a creation answers with the `Location` of what it created.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(
        crate::error::ErrorBody,
        super::events::EventBody,
        crate::domain::execution::Progress
    )),
    tags(
        (name = "campaigns", description = "Campaigns, their previews, triggers and statistics"),
        (name = "executions", description = "Each trigger of a campaign, real or simulated"),
        (name = "templates", description = "Reusable content"),
        (name = "segments", description = "Saved audience rules"),
        (name = "customers", description = "The CRM's customers and their opt-outs"),
        (name = "records", description = "One message to one customer, and its delivery"),
        (name = "replies", description = "Inbound SMS"),
        (name = "conversions", description = "Outcomes credited to campaigns"),
        (name = "events", description = "Customer events that trigger campaigns"),
        (name = "journeys", description = "Flows each customer walks: entry, steps, goal"),
        (name = "admin", description = "The dead-letter queue: admin tokens only"),
        (name = "tracking", description = "The links in messages: no bearer token"),
        (name = "webhooks", description = "Providers' callbacks: no bearer token"),
        (name = "service", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Marks every operation of `api` (the routes behind [`super::authenticate`] and the
/// idempotency layer) as needing the bearer token, and its `POST`s as taking an
/// `Idempotency-Key`.
pub fn behind_bearer(mut api: OpenApiRouter<RestState>) -> OpenApiRouter<RestState> {
    for item in api.get_openapi_mut().paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut() {
            post.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Retrying with the key of the first try answers the first answer again \
                         (with `Idempotent-Replayed: true`) instead of doing it twice; kept 24 \
                         hours, scoped to the token, method and path. The same key with another \
                         request is a 422.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255))
                            .pattern(Some("^[\\x21-\\x7e]+$")),
                    ))
                    .build(),
            );
        }
        for op in operations(item) {
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
        }
    }
    api
}

/// Completes the document: the bearer scheme, no security on what is open, and the error body
/// as the `default` answer of every JSON operation (with 400 and 401 where they apply).
pub fn finish(doc: &mut OpenApi) {
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <token>`, a token of `API_TOKENS`; \
                         `X-Actor-Id` may name the person acting for the caller.",
                    ))
                    .build(),
            ),
        );
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations(item) {
            absent_not_null(op);
        }
        let for_people = path.starts_with("/t/") || path.starts_with("/u/");
        for op in operations(item) {
            // Handlers' names repeat across modules (`list`, `get`): the tag makes them unique.
            if let (Some(tag), Some(id)) =
                (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id)
            {
                op.operation_id = Some(format!("{tag}.{id}"));
            }
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            if !secured {
                op.security = Some(Vec::new());
            }
            if for_people {
                continue;
            }
            let takes_input = op.request_body.is_some()
                || op
                    .parameters
                    .as_ref()
                    .is_some_and(|p| p.iter().any(|p| p.parameter_in != ParameterIn::Header));
            let responses = &mut op.responses.responses;
            if takes_input {
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("Bad input: `field` names what is wrong").into());
            }
            if secured {
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("Missing or unknown bearer token").into());
            }
            responses
                .entry("default".into())
                .or_insert_with(|| error("Any other error, with the error body").into());
        }
    }
}

/// An optional body (`Option<T>`, generated as "`null` or `T`") is one that may be absent: its
/// schema is `T`'s. (The service reads a `null` body as an absent one too.)
fn absent_not_null(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let mut others = one_of.items.iter().filter(|s| !is_null(s));
        if let (Some(only), None) = (others.next(), others.next()) {
            content.schema = Some(only.clone());
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o))
        if matches!(o.schema_type, SchemaType::Type(Type::Null)))
}

/// An answer with the JSON error body.
fn error(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}
