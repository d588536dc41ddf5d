//! The one error type of the use cases. Each variant is a decision the caller must be told
//! about; how it reads to a client (an RFC 9457 problem, a CLI message) is the adapter's
//! business, mapped in exactly one place there.

use rampart_auth::authn::tokens::TokenError;
use rampart_auth::{AuthError, Denied};
use rampart_core::{FieldError, Invalid};
use rampart_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing does not exist, or the caller may not know it does (the same answer).
    #[error("not found")]
    NotFound,
    /// Input that failed validation, naming each field.
    #[error("invalid input")]
    Invalid(Invalid),
    /// Input that cannot be read at all (malformed or too deeply nested JSON).
    #[error("bad request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    /// The caller may know the thing but not do this to it; `code` is stable.
    #[error("forbidden: {detail}")]
    Forbidden {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The request conflicts with the current state (the last owner, a name taken); `code`
    /// is stable.
    #[error("conflict: {detail}")]
    Conflict { code: &'static str, detail: String },
    /// The project requires a second factor the caller, who would have access, has not enrolled.
    #[error("the project requires a second factor")]
    SecondFactorRequired,
    /// A change or deletion without the version it is based on.
    #[error("the record's version is required")]
    VersionRequired { detail: String },
    /// A failure inside one operation of a batch: nothing of the batch was written.
    #[error("{op}: {source}")]
    InOperation { op: String, source: Box<AppError> },
    /// The one the answer was for went away (an export's reader disconnected).
    #[error("cancelled: the reader went away")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Something that should not happen; the cause is for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid(Invalid::one(field, code, message))
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A scoped API token asked for something only an unscoped credential may do.
    pub fn token_scope() -> Self {
        Self::forbidden(
            "token_scope",
            "this API token is scoped to some projects or to reading; this needs an unscoped one",
        )
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// Names the batch operation an error is about.
    pub fn in_operation(self, op: &str) -> Self {
        Self::InOperation {
            op: op.to_owned(),
            source: Box::new(self),
        }
    }
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        Self::Invalid(e)
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e.into())
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => Self::NotFound,
            Denied::SecondFactorRequired => Self::SecondFactorRequired,
            Denied::Forbidden { action } => Self::forbidden(
                "forbidden",
                format!("your role does not allow {}", action.as_str()),
            ),
        }
    }
}

impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::UnknownProject { index } => Self::invalid(
                format!("projects[{index}]"),
                "unknown_project",
                "no such project, or you cannot see it",
            ),
            TokenError::UnknownPermissionSet => Self::invalid(
                "permission_set",
                "unknown_permission_set",
                "no such permission set, or you neither hold it nor administer its project",
            ),
            TokenError::PermissionSetOutsideProjects => Self::invalid(
                "permission_set",
                "outside_projects",
                "the permission set's project must be the token's only project",
            ),
            TokenError::AlreadyRotated => Self::Conflict {
                code: "already_rotated",
                detail: "this token was already rotated; rotate its successor".into(),
            },
            TokenError::NotFound => Self::NotFound,
            TokenError::Auth(a) => Self::Auth(a),
        }
    }
}

impl From<rampart_sql::InvalidIdent> for AppError {
    fn from(e: rampart_sql::InvalidIdent) -> Self {
        Self::internal(&e)
    }
}
