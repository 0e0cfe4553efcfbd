//! `/api/v1/production/downtime-reasons`: the tenant's downtime reason
//! tree (categories and reasons with a loss class). Read from the metadata
//! cache; written through [`crate::plant::service`] and [`crate::reasons`].
//! Deleting a reason that events, incidents or other reasons use is a 409;
//! deactivating it (`is_active: false`) is the way to retire it.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::{default_limit, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::service::{self, Actor};
use crate::reasons::{self, LossClass, ReasonInput, ReasonRow};

/// Where a stop's time goes in the loss split.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "LossClass", rename_all = "snake_case")]
pub enum LossClassView {
    /// A failure of the machine.
    Breakdown,
    /// Changeover, adjustment.
    Setup,
    /// A short stop.
    MinorStop,
    /// Break, planned maintenance, no orders, meeting.
    Planned,
    /// Not explained (yet).
    Unassigned,
}

impl From<LossClass> for LossClassView {
    fn from(class: LossClass) -> Self {
        match class {
            LossClass::Breakdown => LossClassView::Breakdown,
            LossClass::Setup => LossClassView::Setup,
            LossClass::MinorStop => LossClassView::MinorStop,
            LossClass::Planned => LossClassView::Planned,
            LossClass::Unassigned => LossClassView::Unassigned,
        }
    }
}

/// A downtime reason; a category is a reason with `parent_id` null.
#[derive(Object, Debug, Clone)]
pub struct DowntimeReasonView {
    /// Id.
    pub reason_id: i32,
    /// Its category; null for a category.
    #[oai(nullable)]
    pub parent_id: Option<i32>,
    /// Code, unique in the tenant.
    pub code: String,
    /// Name in the tenant's language.
    pub name: String,
    /// Spanish name.
    pub name_es: String,
    /// English name.
    pub name_en: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// CSS hex colour.
    pub color: String,
    /// Loss class.
    pub loss_class: LossClassView,
    /// Whether it can be assigned; an inactive reason stays on the events that have it.
    pub is_active: bool,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl DowntimeReasonView {
    /// `row` with its name in `language`.
    pub fn view(row: &ReasonRow, language: &str) -> Self {
        DowntimeReasonView {
            reason_id: row.reason_id,
            parent_id: row.parent_id,
            code: row.code.clone(),
            name: row.name(language).to_owned(),
            name_es: row.name_es.clone(),
            name_en: row.name_en.clone(),
            description: row.description.clone(),
            color: row.color.clone(),
            loss_class: row.loss().into(),
            is_active: row.is_active,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        }
    }
}

/// A downtime reason to create or replace.
#[derive(Object, Debug, Clone)]
pub struct DowntimeReasonRequest {
    /// Its category (a reason without parent); null or absent: a category.
    #[oai(nullable)]
    pub parent_id: Option<i32>,
    /// Code: 1 to 40 letters, digits, `-`, `_` or `.`; unique in the tenant.
    #[oai(validator(max_length = 40))]
    pub code: String,
    /// Name in the tenant's language (also the other language's, unless given).
    #[oai(validator(max_length = 120))]
    pub name: String,
    /// Spanish name, when it differs from `name`.
    #[oai(nullable, validator(max_length = 120))]
    pub name_es: Option<String>,
    /// English name, when it differs from `name`.
    #[oai(nullable, validator(max_length = 120))]
    pub name_en: Option<String>,
    /// Description.
    #[oai(nullable, validator(max_length = 500))]
    pub description: Option<String>,
    /// CSS hex colour (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`); default the
    /// category's, else the loss class's.
    #[oai(nullable, validator(max_length = 16))]
    pub color: Option<String>,
    /// `breakdown`, `setup`, `minor_stop`, `planned` or `unassigned`;
    /// default the category's (required for a category).
    #[oai(nullable, validator(max_length = 16))]
    pub loss_class: Option<String>,
    /// Whether it can be assigned; default true on create, unchanged on replace.
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

impl From<DowntimeReasonRequest> for ReasonInput {
    fn from(r: DowntimeReasonRequest) -> Self {
        ReasonInput {
            parent_id: r.parent_id,
            code: r.code,
            name: r.name,
            name_es: r.name_es,
            name_en: r.name_en,
            description: r.description,
            color: r.color,
            loss_class: r.loss_class,
            is_active: r.is_active,
        }
    }
}

/// A page of downtime reasons.
#[derive(Object)]
pub struct DowntimeReasonPage {
    /// Items of this page: each category followed by its reasons.
    pub items: Vec<DowntimeReasonView>,
    /// Items matching in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

created_type!(DowntimeReasonCreated, DowntimeReasonView);

/// Downtime reasons.
pub struct ReasonsApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl ReasonsApi {
    /// List downtime reasons, in tree order (each category, then its reasons).
    #[oai(path = "/downtime-reasons", method = "get")]
    async fn list_reasons(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Include deactivated reasons.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Only reasons of this loss class.
        loss_class: Query<Option<LossClassView>>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<DowntimeReasonPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let mut rows: Vec<&ReasonRow> = snapshot
            .reasons
            .values()
            .filter(|r| include_inactive.0 || r.is_active)
            .filter(|r| loss_class.0.is_none_or(|c| LossClassView::from(r.loss()) == c))
            .collect();
        rows.sort_by_key(|r| (r.parent_id.unwrap_or(r.reason_id), r.parent_id.is_some(), r.reason_id));
        let total = rows.len() as i64;
        let items = rows
            .into_iter()
            .skip(usize::try_from(offset.0).unwrap_or(usize::MAX))
            .take(usize::try_from(limit.0).unwrap_or(0))
            .map(|r| DowntimeReasonView::view(r, snapshot.language))
            .collect();
        Ok(Json(DowntimeReasonPage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a downtime reason (or, without `parent_id`, a category).
    #[oai(path = "/downtime-reasons", method = "post")]
    async fn create_reason(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<DowntimeReasonRequest>,
    ) -> Result<DowntimeReasonCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let (snapshot, row) = service::create_reason(&state.plant(), &actor, body.0.into()).await?;
        Ok(DowntimeReasonCreated::Created(Json(DowntimeReasonView::view(
            &row,
            snapshot.language,
        ))))
    }

    /// Read a downtime reason.
    #[oai(path = "/downtime-reasons/:reason_id", method = "get")]
    async fn get_reason(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        reason_id: Path<i32>,
    ) -> Result<Json<DowntimeReasonView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = reasons::get(&snapshot, reason_id.0)?;
        Ok(Json(DowntimeReasonView::view(row, snapshot.language)))
    }

    /// Replace a downtime reason's fields.
    #[oai(path = "/downtime-reasons/:reason_id", method = "put")]
    async fn update_reason(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        reason_id: Path<i32>,
        body: Json<DowntimeReasonRequest>,
    ) -> Result<Json<DowntimeReasonView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let (snapshot, row) = service::update_reason(&state.plant(), &actor, reason_id.0, body.0.into()).await?;
        Ok(Json(DowntimeReasonView::view(&row, snapshot.language)))
    }

    /// Delete a downtime reason: 409 while reasons sit under it, incidents
    /// name it or downtime events carry it (deactivate it instead).
    #[oai(path = "/downtime-reasons/:reason_id", method = "delete")]
    async fn delete_reason(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        reason_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_reason(&state.plant(), &actor, reason_id.0).await?;
        Ok(NoContent::Done)
    }
}
