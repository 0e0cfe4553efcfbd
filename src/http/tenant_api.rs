//! `GET /api/v1/tenant`: the caller's tenant (name, time zone, language,
//! enabled filters), for any authenticated user or API key of that tenant.
//! Thin: authenticate, delegate to [`crate::tenants::profile`], map.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::app::SharedState;
use crate::http::ApiTags;
use crate::http::caller::{Authenticated, Caller};
use crate::http::problem::ApiError;
use crate::tenants::TenantProfile;

/// The caller's tenant.
#[derive(Object, Debug, Clone)]
pub struct TenantView {
    /// Id.
    pub tenant_id: i32,
    /// Company (plant) name.
    pub name: String,
    /// IANA time zone (e.g. `America/Santiago`): local dates, shifts and
    /// the offsets of every instant in answers are read in it.
    pub timezone: String,
    /// Default language of widget and filter names (`es` or `en`); a request's
    /// `lang` or `Accept-Language` overrides it.
    pub language: String,
    /// Keys of the enabled dashboard filters, the fields `POST /dashboard/run`
    /// accepts in `filters` (`line_id`, `date_range`, `product_ids`,
    /// `area_ids`, `shift_id`, `interval`, `downtime_threshold`, `show_stops`).
    pub filters: Vec<String>,
}

impl From<TenantProfile> for TenantView {
    fn from(profile: TenantProfile) -> Self {
        TenantView {
            tenant_id: profile.tenant_id,
            name: profile.name,
            timezone: profile.timezone,
            language: profile.language.to_owned(),
            filters: profile.filters.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// The caller's tenant.
pub struct TenantApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Tenant")]
impl TenantApi {
    /// The caller's tenant: name, time zone, language and enabled filters.
    /// Every user and API key sees its own tenant only.
    #[oai(path = "/tenant", method = "get")]
    async fn tenant(
        &self,
        state: Data<&SharedState>,
        caller: Caller<Authenticated>,
    ) -> Result<Json<TenantView>, ApiError> {
        let profile = crate::tenants::profile(&state.databases, &state.cache, caller.tenant_id).await?;
        Ok(Json(profile.into()))
    }
}
