//! `/api/v1/production/incidents`: incidents on a line, filed under a
//! failure type (a `breakdown` downtime reason; see [`crate::reasons`]).
//! Downtime events name the incident they belong to. Not cached: read from the tenant database, newest first.

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
use crate::plant::inputs::IncidentInput;
use crate::plant::models::IncidentRow;
use crate::plant::service::{self, Actor};

/// An incident.
#[derive(Object)]
pub struct IncidentView {
    /// Id.
    pub incident_id: i32,
    /// Failure type: a `breakdown` downtime reason.
    #[oai(nullable)]
    pub failure_id: Option<i32>,
    /// Line.
    #[oai(nullable)]
    pub line_id: Option<i32>,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Reported (UTC).
    pub reported_at: DateTime<Utc>,
    /// Resolved (UTC).
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<IncidentRow> for IncidentView {
    fn from(r: IncidentRow) -> Self {
        IncidentView {
            incident_id: r.incident_id,
            failure_id: r.failure_id,
            line_id: r.line_id,
            description: r.description,
            reported_at: utc(r.reported_at),
            resolved_at: r.resolved_at.map(utc),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(IncidentPage, IncidentView, "A page of incidents.");
created_type!(IncidentCreated, IncidentView);

/// Incidents.
pub struct IncidentsApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl IncidentsApi {
    /// List incidents, newest first.
    #[oai(path = "/incidents", method = "get")]
    async fn list_incidents(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Only incidents of this line.
        line_id: Query<Option<i32>>,
        /// Only incidents of this failure type.
        failure_id: Query<Option<i32>>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<IncidentPage>, ApiError> {
        let (rows, total) = service::list_incidents(
            &state.plant(),
            caller.tenant_id,
            line_id.0,
            failure_id.0,
            limit.0,
            offset.0,
        )
        .await?;
        Ok(Json(IncidentPage::of(rows, total, limit.0, offset.0)))
    }

    /// Record an incident.
    #[oai(path = "/incidents", method = "post")]
    async fn create_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<IncidentInput>,
    ) -> Result<IncidentCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_incident(&state.plant(), &actor, body.0).await?;
        Ok(IncidentCreated::Created(Json(row.into())))
    }

    /// Read an incident.
    #[oai(path = "/incidents/:incident_id", method = "get")]
    async fn get_incident(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        incident_id: Path<i32>,
    ) -> Result<Json<IncidentView>, ApiError> {
        let row = service::get_incident(&state.plant(), caller.tenant_id, incident_id.0).await?;
        Ok(Json(row.into()))
    }

    /// Replace an incident.
    #[oai(path = "/incidents/:incident_id", method = "put")]
    async fn update_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        incident_id: Path<i32>,
        body: Json<IncidentInput>,
    ) -> Result<Json<IncidentView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_incident(&state.plant(), &actor, incident_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete an incident.
    #[oai(path = "/incidents/:incident_id", method = "delete")]
    async fn delete_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        incident_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_incident(&state.plant(), &actor, incident_id.0).await?;
        Ok(NoContent::Done)
    }
}
