//! `/api/marketing/customers` handlers: the CRM's sync endpoints and opt-outs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::extract::{JsonBody, QueryParams, query_int, query_str};
use super::{Located, RestState, location};
use crate::domain::customer::{BulkOutcome, Customer, CustomerFields, OptOut, ValidCustomer};
use crate::domain::{parse_uuid, parse_word};
use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    external_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    push_token: Option<String>,
    wechat_openid: Option<String>,
    tags: Option<Vec<String>>,
    attributes: Option<serde_json::Value>,
    locale: Option<String>,
    time_zone: Option<String>,
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

/// Most customers one `GET /customers` returns.
const MAX_CUSTOMER_PAGE: i64 = 1000;

#[derive(serde::Serialize)]
pub struct CustomerList {
    customers: Vec<Customer>,
    /// The cursor of the next page (`?cursor=`), `null` on the last page.
    next: Option<String>,
}

/// `GET /customers?tag=&external_id=&q=&page_size=&cursor=`: live customers in a stable order,
/// a page at a time; `next` continues where this page ended, whatever was added or erased since.
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams,
) -> Result<Json<CustomerList>> {
    let after = query_str(&params, "cursor")
        .filter(|c| !c.is_empty())
        .map(|c| {
            uuid::Uuid::parse_str(c).map_err(|_| {
                Error::invalid("cursor", "is not a cursor this API returned as `next`")
            })
        })
        .transpose()?;
    let limit = query_int(&params, "page_size")?.unwrap_or(50);
    if !(1..=MAX_CUSTOMER_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "page_size",
            format!("must be 1 to {MAX_CUSTOMER_PAGE}"),
        ));
    }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    customers: Option<Vec<CustomerBody>>,
}

/// Upserts up to 10,000 customers; all or nothing.
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

pub async fn get(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Customer>> {
    let id = parse_uuid("id", &id)?;
    Ok(Json(state.service.get_customer(id).await?))
}

/// Erases the customer's personal data: 204.
pub async fn erase(State(state): State<RestState>, Path(id): Path<String>) -> Result<StatusCode> {
    let id = parse_uuid("id", &id)?;
    state.service.erase_customer(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptOutBody {
    channel: Option<String>,
}

/// Opts out of one channel or `all`: 201 when new, 200 when it already held.
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
