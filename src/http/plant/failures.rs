//! `/api/v1/production/failures`: the failure types incidents are filed
//! under. Not cached: read from the tenant database. Deleting one that
//! incidents refer to is a 409.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{default_limit, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::inputs::FailureInput;
use crate::plant::models::FailureRow;
use crate::plant::service::{self, Actor};

/// A failure type.
#[derive(Object)]
pub struct FailureView {
    /// Id.
    pub failure_id: i32,
    /// Kind of failure.
    pub type_failure: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<FailureRow> for FailureView {
    fn from(r: FailureRow) -> Self {
        FailureView {
            failure_id: r.failure_id,
            type_failure: r.type_failure,
            description: r.description,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(FailurePage, FailureView, "A page of failure types.");
created_type!(FailureCreated, FailureView);

/// Failure types.
pub struct FailuresApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl FailuresApi {
    /// List failure types.
    #[oai(path = "/failures", method = "get")]
    async fn list_failures(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<FailurePage>, ApiError> {
        let (rows, total) = service::list_failures(&state, caller.tenant_id, limit.0, offset.0).await?;
        Ok(Json(FailurePage::of(rows, total, limit.0, offset.0)))
    }

    /// Create a failure type.
    #[oai(path = "/failures", method = "post")]
    async fn create_failure(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<FailureInput>,
    ) -> Result<FailureCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_failure(&state, &actor, body.0).await?;
        Ok(FailureCreated::Created(Json(row.into())))
    }

    /// Read a failure type.
    #[oai(path = "/failures/:failure_id", method = "get")]
    async fn get_failure(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        failure_id: Path<i32>,
    ) -> Result<Json<FailureView>, ApiError> {
        let row = service::get_failure(&state, caller.tenant_id, failure_id.0).await?;
        Ok(Json(row.into()))
    }

    /// Replace a failure type.
    #[oai(path = "/failures/:failure_id", method = "put")]
    async fn update_failure(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        failure_id: Path<i32>,
        body: Json<FailureInput>,
    ) -> Result<Json<FailureView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_failure(&state, &actor, failure_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a failure type (409 while incidents refer to it).
    #[oai(path = "/failures/:failure_id", method = "delete")]
    async fn delete_failure(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        failure_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_failure(&state, &actor, failure_id.0).await?;
        Ok(NoContent::Done)
    }
}
