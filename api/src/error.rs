//! The one error type of the control plane, mapped once to GraphQL `extensions.code` and to HTTP
//! status codes. Messages name the field and the rule; internal errors are logged with the request
//! id and never shown to the client.

use async_graphql::ErrorExtensions;

/// The fixed set of error codes from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    Conflict,
    ContractViolation,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::ContractViolation => "CONTRACT_VIOLATION",
            Code::Internal => "INTERNAL",
        }
    }

    pub fn http_status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Code::Unauthenticated => S::UNAUTHORIZED,
            Code::Forbidden => S::FORBIDDEN,
            Code::BadUserInput | Code::ContractViolation => S::BAD_REQUEST,
            Code::NotFound => S::NOT_FOUND,
            Code::Conflict => S::CONFLICT,
            Code::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// Bad input: `field` is a path such as `input.definition.steps[2].type`.
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A contract version that breaks compatibility or consumers (CONFLICT, with the report).
    #[error("{}", crate::contracts::registry::refusal(.0))]
    Incompatible(Box<crate::contracts::registry::Report>),
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::BadInput { .. } => Code::BadUserInput,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Conflict(_) | ApiError::Incompatible(_) => Code::Conflict,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// Prefixes the field path of a bad-input error (`definition` → `input.definition`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            ApiError::BadInput { field, message } => ApiError::BadInput {
                field: if field.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}.{field}")
                },
                message,
            },
            other => other,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::Internal(format!("database: {err}"))
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(err: sea_orm::TransactionError<ApiError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        if let ApiError::Internal(detail) = self {
            tracing::error!(error = %detail, "internal error");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| {
            e.set("code", self.code().as_str());
            if let ApiError::BadInput { field, .. } = self
                && !field.is_empty()
            {
                e.set("field", field.as_str());
            }
            if let ApiError::Incompatible(report) = self {
                e.set("field", "input.definition.schema");
                if let Ok(v) = async_graphql::to_value(&report.breaking) {
                    e.set("breaking", v);
                }
                if let Ok(v) = async_graphql::to_value(&report.consumers) {
                    e.set("consumers", v);
                }
            }
        })
    }
}
