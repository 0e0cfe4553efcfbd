//! `/api/v1/production/areas`: the areas of a line (input, process, output)
//! and their sensor regions. Deleting deactivates and keeps the detections.

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
use crate::plant::inputs::AreaInput;
use crate::plant::models::AreaRow;
use crate::plant::service::{self, Actor};

/// An area of a line.
#[derive(Object)]
pub struct AreaView {
    /// Id.
    pub area_id: i32,
    /// Line.
    pub line_id: i32,
    /// Name.
    pub area_name: String,
    /// `input`, `process` or `output`.
    pub area_type: String,
    /// Position along the line.
    pub area_order: i32,
    /// Sensor region, x1.
    #[oai(nullable)]
    pub coord_x1: Option<i32>,
    /// Sensor region, y1.
    #[oai(nullable)]
    pub coord_y1: Option<i32>,
    /// Sensor region, x2.
    #[oai(nullable)]
    pub coord_x2: Option<i32>,
    /// Sensor region, y2.
    #[oai(nullable)]
    pub coord_y2: Option<i32>,
    /// False once deleted.
    pub is_active: bool,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<AreaRow> for AreaView {
    fn from(r: AreaRow) -> Self {
        AreaView {
            area_id: r.area_id,
            line_id: r.line_id,
            area_name: r.area_name,
            area_type: r.area_type,
            area_order: r.area_order,
            coord_x1: r.coord_x1,
            coord_y1: r.coord_y1,
            coord_x2: r.coord_x2,
            coord_y2: r.coord_y2,
            is_active: r.is_active,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(AreaPage, AreaView, "A page of areas.");
created_type!(AreaCreated, AreaView);

/// Areas of lines.
pub struct AreasApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl AreasApi {
    /// List areas, optionally of one line or type.
    #[oai(path = "/areas", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list_areas(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Only areas of this line.
        line_id: Query<Option<i32>>,
        /// Only areas of this type (`input`, `process`, `output`).
        area_type: Query<Option<String>>,
        /// Include deleted areas.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<AreaPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let rows = snapshot
            .areas
            .values()
            .filter(|a| include_inactive.0 || a.is_active)
            .filter(|a| line_id.0.is_none_or(|l| a.line_id == l))
            .filter(|a| area_type.0.as_deref().is_none_or(|t| a.area_type == t))
            .collect();
        Ok(Json(AreaPage::select(rows, limit.0, offset.0)))
    }

    /// Create an area on an existing line.
    #[oai(path = "/areas", method = "post")]
    async fn create_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<AreaInput>,
    ) -> Result<AreaCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_area(&state.plant(), &actor, body.0).await?;
        Ok(AreaCreated::Created(Json(row.into())))
    }

    /// Read an area.
    #[oai(path = "/areas/:area_id", method = "get")]
    async fn get_area(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        area_id: Path<i32>,
    ) -> Result<Json<AreaView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(snapshot.areas.get(&area_id.0).cloned(), "area", area_id.0)?;
        Ok(Json(row.into()))
    }

    /// Replace an area's fields.
    #[oai(path = "/areas/:area_id", method = "put")]
    async fn update_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        area_id: Path<i32>,
        body: Json<AreaInput>,
    ) -> Result<Json<AreaView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_area(&state.plant(), &actor, area_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete an area: it is deactivated; its detections are kept.
    #[oai(path = "/areas/:area_id", method = "delete")]
    async fn delete_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        area_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_area(&state.plant(), &actor, area_id.0).await?;
        Ok(NoContent::Done)
    }
}
