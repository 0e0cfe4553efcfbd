//! `/api/v1/production/products`: products, their weights and ideal rates
//! (which performance and OEE need). Deleting deactivates and keeps the
//! detections.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;

use super::{default_limit, found, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::inputs::ProductInput;
use crate::plant::models::ProductRow;
use crate::plant::service::{self, Actor};

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

page_type!(ProductPage, ProductView, "A page of products.");
created_type!(ProductCreated, ProductView);

/// Products.
pub struct ProductsApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl ProductsApi {
    /// List products.
    #[oai(path = "/products", method = "get")]
    async fn list_products(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
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
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let rows = snapshot
            .products
            .values()
            .filter(|r| include_inactive.0 || r.is_active)
            .collect();
        Ok(Json(ProductPage::select(rows, limit.0, offset.0)))
    }

    /// Create a product.
    #[oai(path = "/products", method = "post")]
    async fn create_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<ProductInput>,
    ) -> Result<ProductCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_product(&state.plant(), &actor, body.0).await?;
        Ok(ProductCreated::Created(Json(row.into())))
    }

    /// Read a product.
    #[oai(path = "/products/:product_id", method = "get")]
    async fn get_product(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        product_id: Path<i32>,
    ) -> Result<Json<ProductView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(snapshot.products.get(&product_id.0).cloned(), "product", product_id.0)?;
        Ok(Json(row.into()))
    }

    /// Replace a product's fields.
    #[oai(path = "/products/:product_id", method = "put")]
    async fn update_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        product_id: Path<i32>,
        body: Json<ProductInput>,
    ) -> Result<Json<ProductView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_product(&state.plant(), &actor, product_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a product: it is deactivated; its detections are kept.
    #[oai(path = "/products/:product_id", method = "delete")]
    async fn delete_product(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        product_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_product(&state.plant(), &actor, product_id.0).await?;
        Ok(NoContent::Done)
    }
}
