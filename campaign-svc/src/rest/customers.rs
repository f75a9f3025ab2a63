//! `/api/marketing/customers` handlers: the CRM's sync endpoints and opt-outs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonBody, QueryParams, query_cursor, query_int, query_str};
use super::{Located, RestState, location};
use crate::domain::customer::{BulkOutcome, Customer, CustomerFields, OptOut, ValidCustomer};
use crate::domain::{parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::customers::DEFAULT_CUSTOMER_PAGE;
use marketing_core::vocabulary::OptOutScope;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "crm-1", "name": "张三", "phone": "+8613800138000", "email": "zhang@example.com",
    "tags": ["VIP"], "attributes": {"points": 12345, "city": "上海"}, "time_zone": "Asia/Shanghai",
    "birthday": "1990-06-15"
}))]
pub struct CustomerBody {
    /// The CRM's id: required, the key of the upsert (≤ 200 characters).
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    external_id: Option<String>,
    name: Option<String>,
    /// An e-mail address; empty or `null`: none.
    email: Option<String>,
    /// E.164 (`+8613800138000`), or a national number of `DEFAULT_PHONE_REGION`.
    phone: Option<String>,
    push_token: Option<String>,
    wechat_openid: Option<String>,
    tags: Option<Vec<String>>,
    /// Any JSON object: `{{ attributes.city }}` in content, `{"attribute": "city", …}` in rules.
    #[schema(value_type = Option<Object>)]
    attributes: Option<serde_json::Value>,
    /// BCP 47 (`zh-CN`).
    locale: Option<String>,
    /// IANA (`Asia/Shanghai`).
    time_zone: Option<String>,
    #[schema(value_type = Option<chrono::NaiveDate>)]
    birthday: Option<String>,
}

impl From<CustomerBody> for CustomerFields {
    fn from(b: CustomerBody) -> Self {
        CustomerFields {
            external_id: b.external_id,
            name: b.name,
            email: b.email,
            phone: b.phone,
            push_token: b.push_token,
            wechat_openid: b.wechat_openid,
            tags: b.tags,
            attributes: b.attributes,
            locale: b.locale,
            time_zone: b.time_zone,
            birthday: b.birthday,
        }
    }
}

#[derive(serde::Serialize, ToSchema)]
pub struct CustomerList {
    customers: Vec<Customer>,
    /// The cursor of the next page (`?cursor=`), `null` on the last page.
    next: Option<String>,
}

/// The query of `GET /customers` (read by [`QueryParams`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query; the handler reads it by name
pub struct CustomerQuery {
    tag: Option<String>,
    external_id: Option<String>,
    /// A piece of name, e-mail, phone or external id.
    q: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
    /// `next` of the previous page; empty or absent: the first page.
    #[param(value_type = Option<String>, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    cursor: Option<String>,
}

/// `GET /customers?tag=&external_id=&q=&page_size=&cursor=`: live customers in a stable order,
/// a page at a time; `next` continues where this page ended, whatever was added or erased since.
#[utoipa::path(
    get,
    path = "/customers",
    tag = "customers",
    params(CustomerQuery),
    responses((status = 200, description = "A page of customers", body = CustomerList))
)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<CustomerList>> {
    let after = query_cursor(&params)?.flatten();
    let limit = query_int(&params, "page_size")?.unwrap_or(DEFAULT_CUSTOMER_PAGE);
    let filter = crate::service::customers::CustomerFilter {
        after,
        tag: query_str(&params, "tag").map(str::to_owned),
        external_id: query_str(&params, "external_id").map(str::to_owned),
        text: query_str(&params, "q").map(str::to_owned),
    };
    let (customers, more) = state.service.list_customers(filter, limit).await?;
    let next = more
        .then(|| customers.last().map(|c| c.id.to_string()))
        .flatten();
    Ok(Json(CustomerList { customers, next }))
}

/// Creates (201) or updates (200) a customer by `external_id`; `Location` is the customer's
/// address either way.
#[utoipa::path(
    post,
    path = "/customers",
    tag = "customers",
    request_body = CustomerBody,
    responses(
        (status = 201, description = "Created", body = Customer, headers(
            ("Location" = String, description = "The customer's address")
        )),
        (status = 200, description = "Updated", body = Customer, headers(
            ("Location" = String, description = "The customer's address")
        )),
    )
)]
pub async fn upsert(
    State(state): State<RestState>,
    JsonBody(body): JsonBody<CustomerBody>,
) -> Result<Located<Customer>> {
    let region = state.service.settings().default_phone_region;
    let customer = ValidCustomer::parse(body.into(), "", region)?;
    let (customer, created) = state.service.upsert_customer(customer).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        location(format_args!("/customers/{}", customer.id)),
        Json(customer),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customers": [
    {"external_id": "crm-1", "name": "张三", "phone": "+8613800138000", "email": "zhang@example.com", "tags": ["VIP"]},
    {"external_id": "crm-2", "name": "李四", "phone": "+8613900139000", "tags": ["新用户"], "time_zone": "Asia/Shanghai"}
]}))]
pub struct BulkBody {
    /// Required: up to 10,000.
    #[schema(value_type = Vec<CustomerBody>, max_items = 10000)]
    customers: Option<Vec<CustomerBody>>,
}

/// Upserts up to 10,000 customers; all or nothing.
#[utoipa::path(
    post,
    path = "/customers/bulk",
    tag = "customers",
    request_body = BulkBody,
    responses((status = 200, description = "What was created and updated", body = BulkOutcome))
)]
pub async fn bulk_upsert(
    State(state): State<RestState>,
    JsonBody(body): JsonBody<BulkBody>,
) -> Result<Json<BulkOutcome>> {
    let customers = body
        .customers
        .ok_or_else(|| Error::invalid("customers", "is required"))?;
    let region = state.service.settings().default_phone_region;
    let batch = customers
        .into_iter()
        .enumerate()
        .map(|(i, c)| ValidCustomer::parse(c.into(), &format!("customers[{i}]."), region))
        .collect::<Result<Vec<_>>>()?;
    Ok(Json(state.service.bulk_upsert_customers(batch).await?))
}

/// A customer.
#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "The customer's id")),
    responses((status = 200, description = "The customer", body = Customer))
)]
pub async fn get(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Customer>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.get_customer(id).await?))
}

/// Erases the customer's personal data: 204.
#[utoipa::path(
    delete,
    path = "/customers/{id}",
    tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "The customer's id")),
    responses((status = 204, description = "Erased"))
)]
pub async fn erase(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.erase_customer(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"channel": "sms"}))]
pub struct OptOutBody {
    /// Required: a channel or `all`.
    #[schema(value_type = OptOutScope)]
    channel: Option<String>,
}

/// Opts out of one channel or `all`: 201 when new, 200 when it already held.
#[utoipa::path(
    post,
    path = "/customers/{id}/opt-outs",
    tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "The customer's id")),
    request_body = OptOutBody,
    responses(
        (status = 201, description = "Opted out", body = OptOut),
        (status = 200, description = "Already opted out", body = OptOut),
    )
)]
pub async fn add_opt_out(
    State(state): State<RestState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OptOutBody>,
) -> Result<(StatusCode, Json<OptOut>)> {
    let id = parse_uuid("id", &id)?;
    let channel = body
        .channel
        .ok_or_else(|| Error::invalid("channel", "is required"))?;
    let scope = parse_word("channel", &channel)?;
    let (opt_out, created) = state.service.add_opt_out(id, scope).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(opt_out)))
}
