//! The connection to campaign-svc (a lazily connected gRPC channel with the bearer token) and
//! how failures become exit codes.

use crm_proto::v1::admin_service_client::AdminServiceClient;
use crm_proto::v1::campaign_service_client::CampaignServiceClient;
use crm_proto::v1::customer_service_client::CustomerServiceClient;
use crm_proto::v1::event_service_client::EventServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::cli::{Global, Output};

pub const EXIT_USAGE: u8 = 1;
pub const EXIT_REFUSED: u8 = 2;
pub const EXIT_UNAVAILABLE: u8 = 3;
pub const EXIT_PARTIAL: u8 = 4;

/// Why a command stopped, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit_code: u8,
}

impl Failure {
    /// Bad input on our side (exit 1).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            exit_code: EXIT_USAGE,
        }
    }
}

impl From<Status> for Failure {
    fn from(s: Status) -> Self {
        let exit_code = exit_code(s.code());
        let mut message = match s.code() {
            Code::Unavailable => format!("the service is unreachable: {}", s.message()),
            Code::Unauthenticated => format!(
                "{} (set MARKETING_TOKEN or --token to a token the service accepts)",
                s.message()
            ),
            _ => s.message().to_owned(),
        };
        if message.is_empty() {
            message = format!("{:?}", s.code());
        }
        Failure { message, exit_code }
    }
}

/// The exit code of a gRPC status code.
pub fn exit_code(code: Code) -> u8 {
    match code {
        Code::Ok => 0,
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::ResourceExhausted
        | Code::OutOfRange
        | Code::Aborted
        | Code::Cancelled => EXIT_REFUSED,
        _ => EXIT_UNAVAILABLE,
    }
}

/// The field a refusal names (`customers[3].email`), from its bad-request details.
pub fn bad_field(s: &Status) -> Option<(String, String)> {
    use tonic_types::StatusExt as _;
    let details = s.get_error_details();
    let v = details.bad_request()?.field_violations.first()?;
    Some((v.field.clone(), v.description.clone()))
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// What every command works with.
pub struct Context {
    channel: Channel,
    bearer: Bearer,
    pub output: Output,
}

impl Context {
    pub fn new(g: &Global) -> Result<Self, Failure> {
        let endpoint = Endpoint::from_shared(g.grpc_addr.clone()).map_err(|e| {
            Failure::usage(format!("--grpc-addr `{}` is not a URL: {e}", g.grpc_addr))
        })?;
        let token = match g.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| {
                        Failure::usage("--token holds characters a header cannot carry")
                    })?,
            ),
        };
        Ok(Context {
            channel: endpoint.connect_lazy(),
            bearer: Bearer(token),
            output: g.output,
        })
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    pub fn campaigns(&self) -> CampaignServiceClient<Authed> {
        CampaignServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub fn customers(&self) -> CustomerServiceClient<Authed> {
        CustomerServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    pub fn events(&self) -> EventServiceClient<Authed> {
        EventServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub fn admin(&self) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }
}
