//! crm.marketing.v1.CustomerService.

use crm_proto::v1 as pb;
use crm_proto::v1::customer_service_server::CustomerService;
use tonic::{Request, Response, Status};

use super::GrpcApi;
use super::convert::{json_to_struct, next_page_token, page_token, struct_to_json, timestamp};
use crate::domain::customer::{Customer, CustomerFields, ValidCustomer};
use crate::domain::{parse_uuid, parse_word};
use crate::error::{Error, Result};
use crate::service::customers::{CustomerFilter, DEFAULT_CUSTOMER_PAGE};

fn fields(c: pb::CustomerInput) -> CustomerFields {
    CustomerFields {
        external_id: Some(c.external_id),
        name: c.name,
        email: c.email,
        phone: c.phone,
        push_token: c.push_token,
        wechat_openid: c.wechat_openid,
        tags: Some(c.tags),
        attributes: c.attributes.map(struct_to_json),
        locale: c.locale,
        time_zone: c.time_zone,
        birthday: c.birthday,
    }
}

fn to_pb(c: Customer) -> pb::Customer {
    let attributes = match c.attributes {
        serde_json::Value::Object(o) => Some(json_to_struct(o)),
        _ => None,
    };
    pb::Customer {
        id: c.id.to_string(),
        external_id: c.external_id.unwrap_or_default(),
        name: c.name,
        email: c.email,
        phone: c.phone,
        push_token: c.push_token,
        wechat_openid: c.wechat_openid,
        tags: c.tags,
        attributes,
        locale: c.locale,
        time_zone: c.time_zone,
        birthday: c.birthday.map(|b| b.to_string()),
        opt_outs: c.opt_outs,
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
    }
}

#[tonic::async_trait]
impl CustomerService for GrpcApi {
    async fn upsert_customer(
        &self,
        req: Request<pb::CustomerInput>,
    ) -> Result<Response<pb::Customer>, Status> {
        let region = self.service.settings().default_phone_region;
        let customer = ValidCustomer::parse(fields(req.into_inner()), "", region)?;
        let (customer, _) = self.service.upsert_customer(customer).await?;
        Ok(Response::new(to_pb(customer)))
    }

    async fn bulk_upsert_customers(
        &self,
        req: Request<pb::BulkUpsertCustomersRequest>,
    ) -> Result<Response<pb::BulkUpsertCustomersResponse>, Status> {
        let region = self.service.settings().default_phone_region;
        let batch = req
            .into_inner()
            .customers
            .into_iter()
            .enumerate()
            .map(|(i, c)| ValidCustomer::parse(fields(c), &format!("customers[{i}]."), region))
            .collect::<Result<Vec<_>>>()?;
        let outcome = self.service.bulk_upsert_customers(batch).await?;
        Ok(Response::new(pb::BulkUpsertCustomersResponse {
            created: outcome.created,
            updated: outcome.updated,
            ids: outcome.ids.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn get_customer(
        &self,
        req: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        Ok(Response::new(to_pb(self.service.get_customer(id).await?)))
    }

    async fn list_customers(
        &self,
        req: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let r = req.into_inner();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let filter = CustomerFilter {
            after: page_token(&r.page_token)?,
            tag: non_empty(r.tag),
            external_id: non_empty(r.external_id),
            text: non_empty(r.q),
        };
        let limit = match r.page_size {
            0 => DEFAULT_CUSTOMER_PAGE,
            n => i64::from(n),
        };
        let (customers, more) = self.service.list_customers(filter, limit).await?;
        let next = more.then(|| customers.last().map(|c| c.id)).flatten();
        Ok(Response::new(pb::ListCustomersResponse {
            customers: customers.into_iter().map(to_pb).collect(),
            next_page_token: next_page_token(next),
        }))
    }

    async fn erase_customer(
        &self,
        req: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::EraseCustomerResponse>, Status> {
        let id = parse_uuid("id", &req.into_inner().id)?;
        self.service.erase_customer(id).await?;
        Ok(Response::new(pb::EraseCustomerResponse {
            id: id.to_string(),
        }))
    }

    async fn add_opt_out(
        &self,
        req: Request<pb::AddOptOutRequest>,
    ) -> Result<Response<pb::OptOut>, Status> {
        let r = req.into_inner();
        let id = parse_uuid("customer_id", &r.customer_id)?;
        if r.channel.is_empty() {
            return Err(Error::invalid("channel", "is required").into());
        }
        let scope = parse_word("channel", &r.channel)?;
        let (o, _) = self.service.add_opt_out(id, scope).await?;
        Ok(Response::new(pb::OptOut {
            customer_id: o.customer_id.to_string(),
            channel: o.channel,
            created_at: Some(timestamp(o.created_at)),
        }))
    }
}
