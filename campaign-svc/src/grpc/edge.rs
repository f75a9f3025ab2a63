//! The gRPC edge, in front of every handler: the methods this server knows (the only values the
//! request metrics may carry as labels), requests over `MAX_BODY_BYTES` refused as
//! `RESOURCE_EXHAUSTED`, and any string holding a NUL character (which PostgreSQL cannot store)
//! refused as `INVALID_ARGUMENT` naming its field, whatever the message.
//!
//! The NUL check reads the request with the API's own descriptors (prost-reflect), so it covers
//! every string field of every message, nested ones and `google.protobuf.Struct` keys and values
//! included, without a check per handler that a new field could miss. Unary requests are one
//! message that tonic buffers anyway; streaming requests pass through untouched.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::{BodyExt as _, Limited};
use prost_reflect::{
    DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, ReflectMessage as _, Value,
};

use crate::domain::text::{NUL_MESSAGE, join_key};
use crate::error::Error;

/// The label of every method this server does not serve.
pub const UNKNOWN_METHOD: &str = "unknown";

/// A served method: its request type, unless requests arrive as a stream.
#[derive(Debug, Clone)]
struct Method {
    /// `/package.Service/Method`, kept once so that labels borrow it.
    path: Arc<str>,
    unary_input: Option<MessageDescriptor>,
}

/// What the edge knows of the served API.
#[derive(Debug, Clone)]
pub struct GrpcEdge {
    methods: Arc<HashMap<String, Method>>,
    max_message_bytes: usize,
}

impl GrpcEdge {
    /// Reads the served services from their descriptor sets (this API's, health's and
    /// reflection's).
    pub fn new(max_message_bytes: usize) -> anyhow::Result<Self> {
        let mut pool = DescriptorPool::new();
        for set in [
            crm_proto::v1::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ] {
            pool.decode_file_descriptor_set(set)?;
        }
        let methods = pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .map(|m| {
                let path = format!("/{}/{}", m.parent_service().full_name(), m.name());
                let unary_input = (!m.is_client_streaming()).then(|| m.input());
                let method = Method {
                    path: path.clone().into(),
                    unary_input,
                };
                (path, method)
            })
            .collect();
        Ok(GrpcEdge {
            methods: Arc::new(methods),
            max_message_bytes,
        })
    }

    /// The metrics label of a request path: the method when served, else [`UNKNOWN_METHOD`].
    pub fn method_label(&self, path: &str) -> Arc<str> {
        self.methods
            .get(path)
            .map(|m| m.path.clone())
            .unwrap_or_else(|| UNKNOWN_METHOD.into())
    }
}

/// The edge as an axum middleware over the gRPC router.
pub async fn check(State(edge): State<GrpcEdge>, req: Request, next: Next) -> Response {
    let Some(input) = edge
        .methods
        .get(req.uri().path())
        .and_then(|m| m.unary_input.clone())
    else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    // One message and its 5-byte frame header; anything beyond is over the limit.
    let limit = edge.max_message_bytes.saturating_add(5);
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(Error::ResourceExhausted(format!(
                "request message exceeds the size limit of {} bytes (MAX_BODY_BYTES)",
                edge.max_message_bytes
            )));
        }
        // The client went away or broke the stream: nothing left to answer.
        Err(_) => {
            return refuse(Error::invalid(
                "request",
                "the request stream could not be read",
            ));
        }
    };
    for frame in frames(&bytes) {
        if frame.len() > edge.max_message_bytes {
            return refuse(Error::ResourceExhausted(format!(
                "request message exceeds the size limit of {} bytes (MAX_BODY_BYTES)",
                edge.max_message_bytes
            )));
        }
        // Undecodable messages are tonic's to refuse, with its own words.
        if let Ok(message) = DynamicMessage::decode(input.clone(), frame)
            && let Some(field) = nul_in_message(&message, "")
        {
            return refuse(Error::invalid(field, NUL_MESSAGE));
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refuse(e: Error) -> Response {
    tonic::Status::from(e).into_http()
}

/// The uncompressed messages of a gRPC request body (length-prefixed frames). Compressed frames
/// are left to tonic, which refuses them (no compression is enabled).
fn frames(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while bytes.len() >= 5 {
        let compressed = bytes[0] != 0;
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let Some(message) = bytes.get(5..5 + len) else {
            break;
        };
        if !compressed {
            out.push(message);
        }
        bytes = &bytes[5 + len..];
    }
    out
}

/// The path of the first string holding a NUL in `message` (`customers[3].name`,
/// `attributes.city`), below `prefix`.
fn nul_in_message(message: &DynamicMessage, prefix: &str) -> Option<String> {
    match message.descriptor().full_name() {
        // JSON-like values read as JSON paths, as the REST API names them.
        "google.protobuf.Struct" => {
            let fields = message.get_field_by_name("fields")?;
            nul_in_value(&fields, prefix)
        }
        "google.protobuf.Value" => message
            .fields()
            .find_map(|(_, value)| nul_in_value(value, prefix)),
        "google.protobuf.ListValue" => {
            let values = message.get_field_by_name("values")?;
            nul_in_value(&values, prefix)
        }
        _ => message
            .fields()
            .find_map(|(field, value)| nul_in_value(value, &join_key(prefix, field.name()))),
    }
}

fn nul_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then(|| path.to_owned()),
        Value::Message(m) => nul_in_message(m, path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in_value(v, &format!("{path}[{i}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, v)| match key {
            MapKey::String(k) if k.contains('\0') => Some(path.to_owned()),
            MapKey::String(k) => nul_in_value(v, &join_key(path, k)),
            other => nul_in_value(v, &format!("{path}[{other:?}]")),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(m: &impl prost::Message) -> Vec<u8> {
        m.encode_to_vec()
    }

    #[test]
    fn knows_every_served_method_and_labels_the_rest_unknown() {
        let edge = GrpcEdge::new(1024).unwrap();
        assert_eq!(
            &*edge.method_label("/crm.marketing.v1.CampaignService/CreateCampaign"),
            "/crm.marketing.v1.CampaignService/CreateCampaign"
        );
        assert_eq!(
            &*edge.method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(&*edge.method_label("/x.Y/Z"), UNKNOWN_METHOD);
        assert_eq!(
            &*edge.method_label("/crm.marketing.v1.CampaignService/Nope"),
            UNKNOWN_METHOD
        );
    }

    #[test]
    fn finds_nul_in_nested_fields_lists_and_structs() {
        let edge = GrpcEdge::new(1024).unwrap();
        let desc = |path: &str| edge.methods[path].unary_input.clone().unwrap();
        let bulk = desc("/crm.marketing.v1.CustomerService/BulkUpsertCustomers");
        let mut attributes = prost_types::Struct::default();
        attributes.fields.insert(
            "city".into(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("上\0海".into())),
            },
        );
        let req = crm_proto::v1::BulkUpsertCustomersRequest {
            customers: vec![
                crm_proto::v1::CustomerInput {
                    external_id: "a".into(),
                    ..Default::default()
                },
                crm_proto::v1::CustomerInput {
                    external_id: "b".into(),
                    tags: vec!["ok".into(), "b\0d".into()],
                    ..Default::default()
                },
            ],
        };
        let m = DynamicMessage::decode(bulk.clone(), encode(&req).as_slice()).unwrap();
        assert_eq!(
            nul_in_message(&m, "").as_deref(),
            Some("customers[1].tags[1]")
        );
        let req = crm_proto::v1::BulkUpsertCustomersRequest {
            customers: vec![crm_proto::v1::CustomerInput {
                external_id: "a".into(),
                attributes: Some(attributes),
                ..Default::default()
            }],
        };
        let m = DynamicMessage::decode(bulk, encode(&req).as_slice()).unwrap();
        assert_eq!(
            nul_in_message(&m, "").as_deref(),
            Some("customers[0].attributes.city")
        );
    }

    #[test]
    fn splits_frames() {
        let mut body = vec![0, 0, 0, 0, 2, b'h', b'i'];
        body.extend([1, 0, 0, 0, 1, b'x']);
        assert_eq!(frames(&body), vec![b"hi".as_slice()]);
    }
}
