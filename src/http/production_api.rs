//! `/api/v1/production/...`: CRUD of lines, areas, products, shifts,
//! filters, failures and incidents. Reads of cached configuration come from
//! the metadata cache; writes go through [`crate::plant::service`]. Reading
//! needs `read_data`; writing needs `manage_plant`.

use chrono::{DateTime, NaiveTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use rust_decimal::Decimal;

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::auth::rights::Right;
use crate::error::{AppError, AppResult};
use crate::http::ApiTags;
use crate::http::auth_api::NoContent;
use crate::http::client_info;
use crate::http::problem::ApiError;
use crate::http::security::Auth;
use crate::plant::inputs::{AreaInput, FailureInput, FilterInput, IncidentInput, LineInput, ProductInput, ShiftInput};
use crate::plant::models::{AreaRow, FailureRow, FilterRow, IncidentRow, LineRow, ProductRow, ShiftRow};
use crate::plant::service::{self, Actor};

fn utc(t: chrono::NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn hms(t: NaiveTime) -> String {
    t.format("%H:%M:%S").to_string()
}

/// A production line.
#[derive(Object)]
pub struct LineView {
    /// Id.
    pub line_id: i32,
    /// Name.
    pub line_name: String,
    /// Code.
    pub line_code: String,
    /// False once deleted.
    pub is_active: bool,
    /// Target availability, percent.
    #[oai(nullable)]
    pub availability: Option<Decimal>,
    /// Target performance, percent.
    #[oai(nullable)]
    pub performance: Option<Decimal>,
    /// Gap in seconds above which the line counts as stopped.
    pub downtime_threshold: i32,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Deleted (UTC).
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<LineRow> for LineView {
    fn from(r: LineRow) -> Self {
        LineView {
            line_id: r.line_id,
            line_name: r.line_name,
            line_code: r.line_code,
            is_active: r.is_active,
            availability: r.availability.map(|d| d.0.normalize()),
            performance: r.performance.map(|d| d.0.normalize()),
            downtime_threshold: r.downtime_threshold,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            deleted_at: r.deleted_at.map(utc),
        }
    }
}

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

/// A product.
#[derive(Object)]
pub struct ProductView {
    /// Id.
    pub product_id: i32,
    /// Name.
    pub product_name: String,
    /// Code.
    pub product_code: String,
    /// Weight, kg (exact decimal).
    #[oai(nullable)]
    pub product_weight: Option<Decimal>,
    /// Colour for charts.
    #[oai(nullable)]
    pub product_color: Option<String>,
    /// Ideal rate, units per hour.
    #[oai(nullable)]
    pub production_std: Option<Decimal>,
    /// Units per batch.
    #[oai(nullable)]
    pub product_per_batch: Option<i32>,
    /// False once deleted.
    pub is_active: bool,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<ProductRow> for ProductView {
    fn from(r: ProductRow) -> Self {
        ProductView {
            product_id: r.product_id,
            product_name: r.product_name,
            product_code: r.product_code,
            product_weight: r.product_weight.map(|d| d.0.normalize()),
            product_color: r.product_color,
            production_std: r.production_std.map(|d| d.0.normalize()),
            product_per_batch: r.product_per_batch,
            is_active: r.is_active,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A shift.
#[derive(Object)]
pub struct ShiftView {
    /// Id.
    pub shift_id: i32,
    /// Name.
    pub shift_name: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Active.
    pub shift_status: bool,
    /// Weekday names.
    pub days_implemented: Vec<String>,
    /// Local start, `HH:MM:SS`.
    pub start_time: String,
    /// Local end, `HH:MM:SS`.
    pub end_time: String,
    /// Ends on the next day.
    pub is_overnight: bool,
    /// Lines it applies to; absent means every line.
    #[oai(nullable)]
    pub line_ids: Option<Vec<i32>>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<ShiftRow> for ShiftView {
    fn from(r: ShiftRow) -> Self {
        ShiftView {
            shift_id: r.shift_id,
            shift_name: r.shift_name,
            description: r.description,
            shift_status: r.shift_status,
            days_implemented: serde_json::from_str(&r.days_implemented).unwrap_or_default(),
            start_time: hms(r.start_time),
            end_time: hms(r.end_time),
            is_overnight: r.is_overnight,
            line_ids: r.line_ids.and_then(|t| serde_json::from_str(&t).ok()),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

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

/// An incident.
#[derive(Object)]
pub struct IncidentView {
    /// Id.
    pub incident_id: i32,
    /// Failure type.
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

macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Object)]
        pub struct $name {
            /// Items of this page.
            pub items: Vec<$item>,
            /// Items matching in all.
            pub total: i64,
            /// Page size used.
            pub limit: i64,
            /// Offset used.
            pub offset: i64,
        }
    };
}

page_type!(LinePage, LineView, "A page of lines.");
page_type!(AreaPage, AreaView, "A page of areas.");
page_type!(ProductPage, ProductView, "A page of products.");
page_type!(ShiftPage, ShiftView, "A page of shifts.");
page_type!(FilterPage, FilterView, "A page of filters.");
page_type!(FailurePage, FailureView, "A page of failure types.");
page_type!(IncidentPage, IncidentView, "A page of incidents.");

/// Pages a filtered list held in memory.
fn paginate<R: Clone, V: From<R>>(rows: Vec<&R>, limit: i64, offset: i64) -> (Vec<V>, i64) {
    let total = rows.len() as i64;
    let items = rows
        .into_iter()
        .skip(offset.max(0) as usize)
        .take(limit.max(0) as usize)
        .cloned()
        .map(V::from)
        .collect();
    (items, total)
}

macro_rules! created_type {
    ($name:ident, $view:ty) => {
        /// Created.
        #[derive(ApiResponse)]
        pub enum $name {
            /// Created.
            #[oai(status = 201)]
            Created(Json<$view>),
        }
    };
}

created_type!(LineCreated, LineView);
created_type!(AreaCreated, AreaView);
created_type!(ProductCreated, ProductView);
created_type!(ShiftCreated, ShiftView);
created_type!(FilterCreated, FilterView);
created_type!(FailureCreated, FailureView);
created_type!(IncidentCreated, IncidentView);

fn reader(auth: &Auth) -> AppResult<&Principal> {
    let principal = auth.principal()?;
    principal.require(Right::ReadData)?;
    Ok(principal)
}

fn writer(auth: &Auth) -> AppResult<&Principal> {
    let principal = auth.principal()?;
    principal.require(Right::ManagePlant)?;
    Ok(principal)
}

fn default_limit() -> i64 {
    100
}

fn found<T>(value: Option<T>, kind: &str, id: i32) -> AppResult<T> {
    value.ok_or_else(|| AppError::NotFound(format!("{kind} {id} not found")))
}

/// Plant configuration.
pub struct ProductionApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl ProductionApi {
    /// List lines (active ones unless `include_inactive`).
    #[oai(path = "/lines", method = "get")]
    async fn list_lines(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        /// Include deleted lines.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<LinePage>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        let rows = snapshot
            .lines
            .values()
            .filter(|l| include_inactive.0 || l.is_active)
            .collect();
        let (items, total) = paginate(rows, limit.0, offset.0);
        Ok(Json(LinePage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a line; its detection and downtime storage is created with it.
    #[oai(path = "/lines", method = "post")]
    async fn create_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<LineInput>,
    ) -> Result<LineCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        let row = service::create_line(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            body.0,
        )
        .await?;
        Ok(LineCreated::Created(Json(row.into())))
    }

    /// Read a line (deleted ones too).
    #[oai(path = "/lines/:line_id", method = "get")]
    async fn get_line(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        line_id: Path<i32>,
    ) -> Result<Json<LineView>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        Ok(Json(
            found(snapshot.lines.get(&line_id.0).cloned(), "line", line_id.0)?.into(),
        ))
    }

    /// Replace a line's fields.
    #[oai(path = "/lines/:line_id", method = "put")]
    async fn update_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        line_id: Path<i32>,
        body: Json<LineInput>,
    ) -> Result<Json<LineView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_line(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                line_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete a line: it is deactivated; its history is kept.
    #[oai(path = "/lines/:line_id", method = "delete")]
    async fn delete_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        line_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_line(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            line_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List areas, optionally of one line or type.
    #[oai(path = "/areas", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list_areas(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
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
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        let rows = snapshot
            .areas
            .values()
            .filter(|a| include_inactive.0 || a.is_active)
            .filter(|a| line_id.0.is_none_or(|l| a.line_id == l))
            .filter(|a| area_type.0.as_deref().is_none_or(|t| a.area_type == t))
            .collect();
        let (items, total) = paginate(rows, limit.0, offset.0);
        Ok(Json(AreaPage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create an area on an existing line.
    #[oai(path = "/areas", method = "post")]
    async fn create_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<AreaInput>,
    ) -> Result<AreaCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(AreaCreated::Created(Json(
            service::create_area(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read an area.
    #[oai(path = "/areas/:area_id", method = "get")]
    async fn get_area(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        area_id: Path<i32>,
    ) -> Result<Json<AreaView>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        Ok(Json(
            found(snapshot.areas.get(&area_id.0).cloned(), "area", area_id.0)?.into(),
        ))
    }

    /// Replace an area's fields.
    #[oai(path = "/areas/:area_id", method = "put")]
    async fn update_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        area_id: Path<i32>,
        body: Json<AreaInput>,
    ) -> Result<Json<AreaView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_area(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                area_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete an area: it is deactivated; its detections are kept.
    #[oai(path = "/areas/:area_id", method = "delete")]
    async fn delete_area(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        area_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_area(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            area_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List products.
    #[oai(path = "/products", method = "get")]
    async fn list_products(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        /// Include deleted products.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<ProductPage>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        let rows = snapshot
            .products
            .values()
            .filter(|r| include_inactive.0 || r.is_active)
            .collect();
        let (items, total) = paginate(rows, limit.0, offset.0);
        Ok(Json(ProductPage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a product.
    #[oai(path = "/products", method = "post")]
    async fn create_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<ProductInput>,
    ) -> Result<ProductCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(ProductCreated::Created(Json(
            service::create_product(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read a product.
    #[oai(path = "/products/:product_id", method = "get")]
    async fn get_product(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        product_id: Path<i32>,
    ) -> Result<Json<ProductView>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        Ok(Json(
            found(snapshot.products.get(&product_id.0).cloned(), "product", product_id.0)?.into(),
        ))
    }

    /// Replace a product's fields.
    #[oai(path = "/products/:product_id", method = "put")]
    async fn update_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        product_id: Path<i32>,
        body: Json<ProductInput>,
    ) -> Result<Json<ProductView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_product(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                product_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete a product: it is deactivated; its detections are kept.
    #[oai(path = "/products/:product_id", method = "delete")]
    async fn delete_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        product_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_product(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            product_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List shifts, optionally only those applying to a line.
    #[oai(path = "/shifts", method = "get")]
    async fn list_shifts(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        /// Only shifts that apply to this line.
        line_id: Query<Option<i32>>,
        /// Include inactive shifts.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<ShiftPage>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        let applies: Vec<i32> = match line_id.0 {
            Some(line) => snapshot
                .shift_rules()
                .into_iter()
                .filter(|r| r.applies_to_line(line))
                .map(|r| r.shift_id)
                .collect(),
            None => snapshot.shifts.keys().copied().collect(),
        };
        let rows = snapshot
            .shifts
            .values()
            .filter(|s| include_inactive.0 || s.shift_status)
            .filter(|s| applies.contains(&s.shift_id))
            .collect();
        let (items, total) = paginate(rows, limit.0, offset.0);
        Ok(Json(ShiftPage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a shift.
    #[oai(path = "/shifts", method = "post")]
    async fn create_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<ShiftInput>,
    ) -> Result<ShiftCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(ShiftCreated::Created(Json(
            service::create_shift(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read a shift.
    #[oai(path = "/shifts/:shift_id", method = "get")]
    async fn get_shift(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        shift_id: Path<i32>,
    ) -> Result<Json<ShiftView>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        Ok(Json(
            found(snapshot.shifts.get(&shift_id.0).cloned(), "shift", shift_id.0)?.into(),
        ))
    }

    /// Replace a shift's fields.
    #[oai(path = "/shifts/:shift_id", method = "put")]
    async fn update_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        shift_id: Path<i32>,
        body: Json<ShiftInput>,
    ) -> Result<Json<ShiftView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_shift(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                shift_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete a shift: it is deactivated.
    #[oai(path = "/shifts/:shift_id", method = "delete")]
    async fn delete_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        shift_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_shift(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            shift_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List the tenant's dashboard filters.
    #[oai(path = "/filters", method = "get")]
    async fn list_filters(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
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
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        let rows = snapshot
            .filters
            .values()
            .filter(|f| include_inactive.0 || f.filter_status)
            .collect();
        let (items, total) = paginate(rows, limit.0, offset.0);
        Ok(Json(FilterPage {
            items,
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a filter of a registered type.
    #[oai(path = "/filters", method = "post")]
    async fn create_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<FilterInput>,
    ) -> Result<FilterCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(FilterCreated::Created(Json(
            service::create_filter(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read a filter.
    #[oai(path = "/filters/:filter_id", method = "get")]
    async fn get_filter(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        filter_id: Path<i32>,
    ) -> Result<Json<FilterView>, ApiError> {
        let p = reader(&auth)?;
        let snapshot = state.cache.get(&state.databases, p.tenant_id).await?;
        Ok(Json(
            found(snapshot.filters.get(&filter_id.0).cloned(), "filter", filter_id.0)?.into(),
        ))
    }

    /// Replace a filter's fields.
    #[oai(path = "/filters/:filter_id", method = "put")]
    async fn update_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        filter_id: Path<i32>,
        body: Json<FilterInput>,
    ) -> Result<Json<FilterView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_filter(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                filter_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete a filter: it is deactivated.
    #[oai(path = "/filters/:filter_id", method = "delete")]
    async fn delete_filter(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        filter_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_filter(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            filter_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List failure types.
    #[oai(path = "/failures", method = "get")]
    async fn list_failures(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<FailurePage>, ApiError> {
        let p = reader(&auth)?;
        let (rows, total) = service::list_failures(&state, p.tenant_id, limit.0, offset.0).await?;
        Ok(Json(FailurePage {
            items: rows.into_iter().map(Into::into).collect(),
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
        auth: Auth,
        body: Json<FailureInput>,
    ) -> Result<FailureCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(FailureCreated::Created(Json(
            service::create_failure(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read a failure type.
    #[oai(path = "/failures/:failure_id", method = "get")]
    async fn get_failure(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        failure_id: Path<i32>,
    ) -> Result<Json<FailureView>, ApiError> {
        let p = reader(&auth)?;
        Ok(Json(
            service::get_failure(&state, p.tenant_id, failure_id.0).await?.into(),
        ))
    }

    /// Replace a failure type.
    #[oai(path = "/failures/:failure_id", method = "put")]
    async fn update_failure(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        failure_id: Path<i32>,
        body: Json<FailureInput>,
    ) -> Result<Json<FailureView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_failure(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                failure_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete a failure type (409 while incidents refer to it).
    #[oai(path = "/failures/:failure_id", method = "delete")]
    async fn delete_failure(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        failure_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_failure(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            failure_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// List incidents, newest first.
    #[oai(path = "/incidents", method = "get")]
    async fn list_incidents(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
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
        let p = reader(&auth)?;
        let (rows, total) =
            service::list_incidents(&state, p.tenant_id, line_id.0, failure_id.0, limit.0, offset.0).await?;
        Ok(Json(IncidentPage {
            items: rows.into_iter().map(Into::into).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Record an incident.
    #[oai(path = "/incidents", method = "post")]
    async fn create_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        body: Json<IncidentInput>,
    ) -> Result<IncidentCreated, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(IncidentCreated::Created(Json(
            service::create_incident(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                body.0,
            )
            .await?
            .into(),
        )))
    }

    /// Read an incident.
    #[oai(path = "/incidents/:incident_id", method = "get")]
    async fn get_incident(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
        incident_id: Path<i32>,
    ) -> Result<Json<IncidentView>, ApiError> {
        let p = reader(&auth)?;
        Ok(Json(
            service::get_incident(&state, p.tenant_id, incident_id.0).await?.into(),
        ))
    }

    /// Replace an incident.
    #[oai(path = "/incidents/:incident_id", method = "put")]
    async fn update_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        incident_id: Path<i32>,
        body: Json<IncidentInput>,
    ) -> Result<Json<IncidentView>, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        Ok(Json(
            service::update_incident(
                &state,
                &Actor {
                    principal: p,
                    client: &client,
                },
                incident_id.0,
                body.0,
            )
            .await?
            .into(),
        ))
    }

    /// Delete an incident.
    #[oai(path = "/incidents/:incident_id", method = "delete")]
    async fn delete_incident(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        auth: Auth,
        incident_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let p = writer(&auth)?;
        let client = client_info(req, &state);
        service::delete_incident(
            &state,
            &Actor {
                principal: p,
                client: &client,
            },
            incident_id.0,
        )
        .await?;
        Ok(NoContent::Done)
    }
}

/// Storage administration.
pub struct SystemApi;

#[OpenApi(prefix_path = "/api/v1/system", tag = "ApiTags::System")]
impl SystemApi {
    /// Detection table partitions per line (admins). On SQLite tables are not partitioned.
    #[oai(path = "/partitions", method = "get")]
    async fn partitions(
        &self,
        state: Data<&SharedState>,
        auth: Auth,
    ) -> Result<Json<Vec<crate::plant::partitions::LinePartitions>>, ApiError> {
        let p = auth.principal()?;
        p.require(Right::ManageSystem)?;
        Ok(Json(crate::plant::partitions::list(&state, p.tenant_id).await?))
    }
}
