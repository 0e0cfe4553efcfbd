//! Swagger UI at `/docs`, served from the files vendored into the binary by
//! utoipa-swagger-ui (no network needed at build or run time).

use std::sync::{Arc, LazyLock};

use poem::http::StatusCode;
use poem::web::{Path, Redirect};
use poem::{IntoResponse, Response, handler};

use crate::error::AppError;
use crate::http::problem::problem_response;

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        utoipa_swagger_ui::Config::new(["/openapi.json"])
            .try_it_out_enabled(true)
            .display_request_duration(true)
            .persist_authorization(true),
    )
});

/// `/docs` → `/docs/`: the page loads its assets by relative path.
#[handler]
pub fn redirect_to_slash() -> Redirect {
    Redirect::permanent("/docs/")
}

/// Serves Swagger UI's files.
#[handler]
pub fn swagger_ui(path: Option<Path<String>>) -> Response {
    let tail = path.map(|Path(p)| p).unwrap_or_default();
    match utoipa_swagger_ui::serve(&tail, SWAGGER_CONFIG.clone()) {
        Ok(Some(file)) => {
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .content_type(file.content_type)
                .body(file.bytes.into_owned());
            if file.gzpipped {
                response
                    .headers_mut()
                    .insert("content-encoding", poem::http::HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => problem_response(&AppError::NotFound(format!("no documentation file {tail:?}"))),
        Err(e) => problem_response(&AppError::internal(format!("swagger ui: {e}"))).into_response(),
    }
}
