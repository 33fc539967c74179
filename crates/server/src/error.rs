//! One error type for every route, answered as `{"detail": "..."}` like the FastAPI server
//! Chronicle clients were written against.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a route answers with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 with a message for the user.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: authenticated, not allowed.
    #[error("Forbidden")]
    Forbidden,
    /// 403 saying why: e.g. an API key outside its scope.
    #[error("{0}")]
    Refused(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413: a body over its route's bound.
    #[error("{0}")]
    TooLarge(String),
    /// 429 with `Retry-After`: too many attempts; the message says when to try again.
    #[error("{message}")]
    TooManyRequests {
        /// What the client sees.
        message: String,
        /// Whole seconds until an attempt is heard again.
        retry_after: u64,
    },
    /// 503: what the request needs is not configured or not running; the message names it.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged, never shown.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Refused(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "Request failed.");
        }
        let status = self.status();
        let mut response = (status, Json(json!({"detail": self.to_string()}))).into_response();
        if let AppError::TooManyRequests { retry_after, .. } = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<chronicle_store::StoreError> for AppError {
    fn from(error: chronicle_store::StoreError) -> Self {
        match error {
            chronicle_store::StoreError::NotFound => AppError::NotFound("Not found".into()),
            chronicle_store::StoreError::Conflict(message) => AppError::Conflict(message),
            chronicle_store::StoreError::Invalid(message) => AppError::BadRequest(message),
            other => AppError::Internal(anyhow::anyhow!(other.to_string())),
        }
    }
}

/// What routes return.
pub type AppResult<T> = Result<T, AppError>;

/// `axum::Json`, but bad input is answered in our error format (`{"detail": ...}`, 400).
pub struct AppJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for AppJson<T>
where
    axum::Json<T>:
        axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(AppError::BadRequest(rejection.body_text())),
        }
    }
}

/// Declares an extractor that wraps axum's and answers bad input in our error format.
macro_rules! app_extractor {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $rejection:ident, $from:ident) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<T, S> axum::extract::$from<S> for $name<T>
        where
            axum::extract::$inner<T>: axum::extract::$from<S, Rejection = axum::extract::rejection::$rejection>,
            S: Send + Sync,
        {
            type Rejection = AppError;

            app_extractor!(@method $from, $name, $inner);
        }
    };
    (@method FromRequest, $name:ident, $inner:ident) => {
        async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
            axum::extract::$inner::<T>::from_request(request, state)
                .await
                .map(|axum::extract::$inner(value)| $name(value))
                .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
        }
    };
    (@method FromRequestParts, $name:ident, $inner:ident) => {
        async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
            axum::extract::$inner::<T>::from_request_parts(parts, state)
                .await
                .map(|axum::extract::$inner(value)| $name(value))
                .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
        }
    };
}

app_extractor!(
    /// `axum::Form`, answering bad input as `{"detail": ...}` (400).
    AppForm, Form, FormRejection, FromRequest
);
app_extractor!(
    /// `axum::extract::Query`, answering bad input as `{"detail": ...}` (400).
    AppQuery, Query, QueryRejection, FromRequestParts
);
