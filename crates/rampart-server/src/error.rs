//! Every error a client sees is an RFC 9457 problem document, built here and only here: each
//! error type of the layers below (the use cases', the store's, authentication's and its
//! flows') has its one mapping in this file.
//! Internal details (SQL, paths, causes) are logged with the request id and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rampart_auth::authn::onboarding::OnboardingError;
use rampart_auth::authn::passkeys::PasskeyError;
use rampart_auth::authn::second_factor::FactorError;
use rampart_auth::{AuthError, Denied};
use rampart_core::{FieldError, Invalid};
use rampart_store::StoreError;
use serde::Serialize;

use crate::request_id;

/// The shape of every error response, for the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// `urn:rampart:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// A stable, snake_case code.
    pub code: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorSchema>>,
}

/// One invalid field of a problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    pub field: String,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

/// A problem to answer with.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub www_authenticate: bool,
    /// Seconds to wait, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            errors: Vec::new(),
            www_authenticate: false,
            retry_after: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request").detail(detail)
    }

    /// Input that failed validation, naming each field.
    pub fn invalid(invalid: Invalid) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Invalid input",
        )
        .detail("the request has invalid fields; see errors")
        .with_errors(invalid.errors)
    }

    pub fn field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self::invalid(Invalid::one(field, code, message))
    }

    pub fn unauthenticated() -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
        }
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, "Forbidden").detail(detail)
    }

    /// Sensitive actions are for signed-in sessions, never API tokens.
    pub fn session_required() -> Self {
        Self::forbidden(
            "session_required",
            "this sensitive action needs a signed-in session, not an API token",
        )
    }

    /// A scoped API token reaching beyond its scope (tenant administration, new projects).
    /// A project requires a second factor the caller has not enrolled.
    pub fn second_factor_required_by_project() -> Self {
        Self::forbidden(
            "second_factor_enrolment_required",
            "this project requires a second factor: enrol one under /api/v1/me/second-factors or /api/v1/me/passkeys",
        )
    }

    pub fn token_scope() -> Self {
        Self::forbidden(
            "token_scope",
            "this API token is scoped to some projects or to reading; this needs an unscoped one",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict").detail(detail)
    }

    /// Something went wrong on our side; the cause is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::current(), error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
    }

    /// Too many failed attempts: wait `retry_after_secs`.
    pub fn throttled(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "login_throttled",
                "Too many attempts",
            )
            .detail(format!(
                "too many failed attempts; try again in {} seconds",
                retry_after_secs.max(1)
            ))
        }
    }

    /// A rate budget is spent: wait `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            )
            .detail(format!(
                "too many requests; try again in {} seconds",
                retry_after_secs.max(1)
            ))
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .detail(detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:rampart:problem:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            code: self.code,
            request_id: request_id::current(),
            detail: self.detail.as_deref(),
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::invalid(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::invalid(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(),
            StoreError::Invalid(i) => Self::invalid(i),
            StoreError::Duplicate { field } => Self::conflict(
                "duplicate_value",
                format!("another record already has this value in field {field:?}"),
            )
            .with_errors(vec![FieldError::new(
                format!("fields.{field}"),
                "duplicate_value",
                "must be unique",
            )]),
            StoreError::InBatch { op, source } => {
                let mut e = Self::from(*source);
                e.detail = Some(format!(
                    "{op}: {}; nothing was written",
                    e.detail.as_deref().unwrap_or(e.title)
                ));
                for fe in &mut e.errors {
                    if !fe.field.starts_with(&op) {
                        fe.field = format!("{op}.{}", fe.field);
                    }
                }
                e
            }
            StoreError::NameTaken { what } => {
                Self::conflict("name_taken", format!("this {what} is already taken"))
            }
            StoreError::VersionConflict { current } => Self::conflict(
                "version_conflict",
                format!("the record changed; its current version is {current}"),
            ),
            StoreError::Referenced { by } => Self::conflict(
                "record_referenced",
                format!("links point at this record from: {}", by.join(", ")),
            ),
            StoreError::TableReferenced { fields } => Self::conflict(
                "table_referenced",
                format!("link fields point at this table: {}", fields.join(", ")),
            ),
            StoreError::TenantGone => Self::not_found(),
            other => Self::internal(&other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::unauthenticated(),
            AuthError::Throttled { retry_after_secs } => Self::throttled(retry_after_secs),
            AuthError::WrongPassword => {
                Self::field("password", "wrong_password", "the password is wrong")
            }
            AuthError::SessionRequired => Self::session_required(),
            AuthError::Unavailable => {
                Self::unavailable("authentication is temporarily unavailable")
            }
            AuthError::Store(s) => s.into(),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => Self::not_found(),
            Denied::SecondFactorRequired => Self::second_factor_required_by_project(),
            Denied::Forbidden { action } => Self::forbidden(
                "forbidden",
                format!("your role does not allow {}", action.as_str()),
            ),
        }
    }
}

impl From<rampart_app::AppError> for ApiError {
    fn from(e: rampart_app::AppError) -> Self {
        use rampart_app::AppError;
        match e {
            AppError::NotFound => Self::not_found(),
            AppError::Invalid(i) => Self::invalid(i),
            AppError::BadRequest { code, detail } => Self::bad_request(code, detail),
            AppError::Forbidden {
                code,
                detail,
                errors,
            } => Self::forbidden(code, detail).with_errors(errors),
            AppError::Conflict { code, detail } => Self::conflict(code, detail),
            AppError::SecondFactorRequired => Self::second_factor_required_by_project(),
            AppError::VersionRequired { detail } => Self::new(
                StatusCode::PRECONDITION_REQUIRED,
                "version_required",
                "Precondition required",
            )
            .detail(detail),
            AppError::InOperation { op, source } => {
                // Which operation of the batch, and that nothing of it was written.
                let mut e = Self::from(*source);
                e.detail = Some(format!(
                    "{op}: {}; nothing was written",
                    e.detail.as_deref().unwrap_or(e.title)
                ));
                for fe in &mut e.errors {
                    if !fe.field.starts_with(&op) {
                        fe.field = format!("{op}.{}", fe.field);
                    }
                }
                e
            }
            AppError::Store(s) => s.into(),
            AppError::Auth(a) => a.into(),
            AppError::Internal(cause) => Self::internal(&cause),
            // Nobody is left to read it; said for the log.
            AppError::Cancelled => Self::new(
                StatusCode::BAD_REQUEST,
                "cancelled",
                "the request was cancelled",
            ),
        }
    }
}

impl From<FactorError> for ApiError {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::AlreadyEnrolled => Self::conflict(
                "already_enrolled",
                "this second factor is already enabled; remove it first to replace it",
            ),
            FactorError::NotEnrolled => Self::conflict(
                "not_enrolled",
                "there is no such second factor (or enrolment) to act on",
            ),
            FactorError::InvalidCode => {
                Self::field("code", "invalid_code", "the code is wrong or already used")
            }
            FactorError::Auth(a) => a.into(),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        match e {
            PasskeyError::UnknownCeremony => ApiError::field(
                "ceremony_id",
                "invalid_ceremony",
                "the ceremony is unknown, expired or already finished; start again",
            ),
            PasskeyError::Refused => ApiError::field(
                "credential",
                "credential_refused",
                "the authenticator's answer did not verify",
            ),
            PasskeyError::AlreadyRegistered => ApiError::conflict(
                "passkey_already_registered",
                "this passkey is already registered",
            ),
            PasskeyError::Auth(a) => a.into(),
        }
    }
}

impl From<OnboardingError> for ApiError {
    fn from(e: OnboardingError) -> Self {
        match e {
            OnboardingError::InvalidToken => Self::field(
                "token",
                "invalid_token",
                "the code is invalid, used or expired; ask for a new one",
            ),
            // A conflict with an existing account, not a malformed address: 409, naming the field.
            OnboardingError::EmailTaken => {
                Self::conflict("email_taken", "an account already uses this email").with_errors(
                    vec![FieldError::new(
                        "email",
                        "email_taken",
                        "an account already uses this email",
                    )],
                )
            }
            OnboardingError::Auth(a) => a.into(),
        }
    }
}

/// Handlers return this.
pub type ApiResult<T> = Result<T, ApiError>;
