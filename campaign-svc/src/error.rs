//! The one domain error, mapped once to gRPC status codes and once to HTTP statuses.

/// Everything the service layer can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input; `field` names it (`customers[3].email`, `start_time`, …).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// The body could not be read as JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request is valid but the resource's state forbids it.
    #[error("{0}")]
    Conflict(String),
    /// An update's `If-Match` no longer holds: the resource changed since the client read it.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Well-formed, but cannot be processed as sent (an `Idempotency-Key` reused with another
    /// request); `field` names what is at fault.
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// Authenticated, but not allowed to do this (an admin operation without an admin token).
    #[error("{0}")]
    PermissionDenied(String),
    /// A provider webhook without a valid, fresh signature; says which check failed.
    #[error("webhook signature refused: {0}")]
    BadSignature(&'static str),
    #[error("request body exceeds the size limit (MAX_BODY_BYTES)")]
    PayloadTooLarge,
    /// The client took longer than `HTTP_BODY_TIMEOUT_SECS` to send the body.
    #[error("the request body was not received in time (HTTP_BODY_TIMEOUT_SECS)")]
    RequestTimeout,
    #[error("{0}")]
    ResourceExhausted(String),
    /// Not now: the caller should send the same request again shortly (503, `Retry-After`).
    #[error("{0}")]
    Unavailable(String),
    /// A failure of ours; logged with context, never shown to the caller.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every 4xx/5xx answer of the REST API and the webhooks (the pages behind links in
/// messages excepted): the OpenAPI document's `ErrorBody`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_argument", "message": "is required", "field": "name"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid_argument`, `unauthenticated`, `not_found`,
    /// `method_not_allowed`, `request_timeout`, `failed_precondition` (409),
    /// `precondition_failed` (412), `payload_too_large`, `unsupported_media_type`,
    /// `unprocessable`, `resource_exhausted` (429), `internal` (5xx).
    #[schema(example = "invalid_argument")]
    pub code: String,
    /// For people; never internals.
    pub message: String,
    /// The field at fault (`customers[3].email`, `Idempotency-Key`), `null` when no one field is.
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: String, field: Option<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
            },
        }
    }
}

/// The service layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// Stable machine-readable code, shared by both transports.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } | Error::MalformedJson(_) => "invalid_argument",
            Error::NotFound { .. } => "not_found",
            Error::Conflict(_) => "failed_precondition",
            Error::PreconditionFailed(_) => "precondition_failed",
            Error::Unprocessable { .. } => "unprocessable",
            Error::Unauthenticated | Error::BadSignature(_) => "unauthenticated",
            Error::PermissionDenied(_) => "permission_denied",
            Error::PayloadTooLarge => "payload_too_large",
            Error::RequestTimeout => "request_timeout",
            Error::ResourceExhausted(_) => "resource_exhausted",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } | Error::Unprocessable { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }

    /// The message shown to the caller (never internals).
    pub fn public_message(&self) -> String {
        match self {
            Error::InvalidArgument { message, .. } | Error::Unprocessable { message, .. } => {
                message.clone()
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database pool"))
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code;
        use tonic_types::{ErrorDetails, StatusExt as _};
        let code = match &e {
            Error::InvalidArgument { .. } | Error::MalformedJson(_) => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::Conflict(_) | Error::PreconditionFailed(_) => Code::FailedPrecondition,
            Error::Unprocessable { .. } => Code::InvalidArgument,
            Error::Unauthenticated | Error::BadSignature(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::PayloadTooLarge | Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::RequestTimeout => Code::DeadlineExceeded,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Internal(_) => Code::Internal,
        };
        let message = e.public_message();
        match e.field() {
            Some(field) => {
                let details = ErrorDetails::with_bad_request_violation(field, message.clone());
                tonic::Status::with_error_details(code, format!("{field}: {message}"), details)
            }
            None => tonic::Status::new(code, message),
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        let status = match &self {
            Error::InvalidArgument { .. } | Error::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthenticated | Error::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = ErrorBody::new(
            self.code(),
            self.public_message(),
            self.field().map(str::to_owned),
        );
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self, Error::Unavailable(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if matches!(self, Error::Unauthenticated) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
