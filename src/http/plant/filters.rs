//! `/api/v1/production/filters`: the tenant's dashboard filters, each of a
//! registered filter type. Deleting deactivates.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{default_limit, found, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::inputs::FilterInput;
use crate::plant::models::FilterRow;
use crate::plant::service::{self, Actor};

/// A dashboard filter.
#[derive(Object)]
pub struct FilterView {
    /// Id.
    pub filter_id: i32,
    /// Name.
    pub filter_name: String,
    /// Registered filter type.
    pub class_name: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Active.
    pub filter_status: bool,
    /// Default value.
    #[oai(nullable)]
    pub default_value: Option<serde_json::Value>,
    /// Extra settings.
    #[oai(nullable)]
    pub additional_filter: Option<serde_json::Value>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<FilterRow> for FilterView {
    fn from(r: FilterRow) -> Self {
        FilterView {
            filter_id: r.filter_id,
            filter_name: r.filter_name,
            class_name: r.class_name,
            description: r.description,
            filter_status: r.filter_status,
            default_value: r.default_value.and_then(|t| serde_json::from_str(&t).ok()),
            additional_filter: r.additional_filter.and_then(|t| serde_json::from_str(&t).ok()),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(FilterPage, FilterView, "A page of filters.");
created_type!(FilterCreated, FilterView);

/// Dashboard filters.
pub struct FiltersApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl FiltersApi {
    /// List the tenant's dashboard filters.
    #[oai(path = "/filters", method = "get")]
    async fn list_filters(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Include inactive filters.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<FilterPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let rows = snapshot
            .filters
            .values()
            .filter(|f| include_inactive.0 || f.filter_status)
            .collect();
        Ok(Json(FilterPage::select(rows, limit.0, offset.0)))
    }

    /// Create a filter of a registered type.
    #[oai(path = "/filters", method = "post")]
    async fn create_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<FilterInput>,
    ) -> Result<FilterCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_filter(&state.plant(), &actor, body.0).await?;
        Ok(FilterCreated::Created(Json(row.into())))
    }

    /// Read a filter.
    #[oai(path = "/filters/:filter_id", method = "get")]
    async fn get_filter(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        filter_id: Path<i32>,
    ) -> Result<Json<FilterView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(snapshot.filters.get(&filter_id.0).cloned(), "filter", filter_id.0)?;
        Ok(Json(row.into()))
    }

    /// Replace a filter's fields.
    #[oai(path = "/filters/:filter_id", method = "put")]
    async fn update_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        filter_id: Path<i32>,
        body: Json<FilterInput>,
    ) -> Result<Json<FilterView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_filter(&state.plant(), &actor, filter_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a filter: it is deactivated.
    #[oai(path = "/filters/:filter_id", method = "delete")]
    async fn delete_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        filter_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_filter(&state.plant(), &actor, filter_id.0).await?;
        Ok(NoContent::Done)
    }
}
