//! `/api/v1/production/failures`: the failure types incidents are filed
//! under, kept for clients of the original design. One catalog: a failure
//! type is a `breakdown` downtime reason without reasons under it (see
//! [`crate::reasons`]), so `failure_id` is its `reason_id` and
//! `type_failure` its name in the tenant's language. New ones go under the
//! breakdown category with code `FAILURE-<id>`. Deleting one that
//! incidents or downtime events use is a 409.

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
use crate::plant::service::{self, Actor};
use crate::reasons::{self, ReasonRow};

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

impl FailureView {
    /// The failure type `r`, named in `language`.
    fn view(r: &ReasonRow, language: &str) -> Self {
        FailureView {
            failure_id: r.reason_id,
            type_failure: r.name(language).to_owned(),
            description: r.description.clone(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A page of failure types.
#[derive(Object)]
pub struct FailurePage {
    /// Items of this page.
    pub items: Vec<FailureView>,
    /// Items matching in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

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
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let rows = reasons::failure_types(&snapshot);
        let total = rows.len() as i64;
        let items = rows
            .into_iter()
            .skip(usize::try_from(offset.0).unwrap_or(usize::MAX))
            .take(usize::try_from(limit.0).unwrap_or(0))
            .map(|r| FailureView::view(r, snapshot.language))
            .collect();
        Ok(Json(FailurePage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
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
        let (snapshot, row) = service::create_failure(&state.plant(), &actor, body.0).await?;
        Ok(FailureCreated::Created(Json(FailureView::view(
            &row,
            snapshot.language,
        ))))
    }

    /// Read a failure type.
    #[oai(path = "/failures/:failure_id", method = "get")]
    async fn get_failure(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        failure_id: Path<i32>,
    ) -> Result<Json<FailureView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = reasons::failure_type(&snapshot, failure_id.0)?;
        Ok(Json(FailureView::view(row, snapshot.language)))
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
        let (snapshot, row) = service::update_failure(&state.plant(), &actor, failure_id.0, body.0).await?;
        Ok(Json(FailureView::view(&row, snapshot.language)))
    }

    /// Delete a failure type (409 while incidents or downtime events refer to it).
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
        service::delete_failure(&state.plant(), &actor, failure_id.0).await?;
        Ok(NoContent::Done)
    }
}
