//! `GET /api/v1/tenant`: the caller's tenant (name, time zone, language,
//! enabled filters, analytics rules), for any authenticated user or API key
//! of that tenant; `PUT /api/v1/tenant/rules` for plant administrators.
//! Thin: authenticate, delegate to [`crate::tenants::profile`], map.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::app::SharedState;
use crate::http::caller::{Authenticated, Caller, ManagePlant};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::service::Actor;
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
    /// The planned-stops rule: when true (the default), stops whose reason
    /// has the loss class `planned` (a break, planned maintenance, no orders)
    /// leave the planned time, as ISO 22400 takes planned downtime out of
    /// planned busy time; when false they count as downtime. KPI answers
    /// name the rule they applied.
    pub planned_stops_reduce_planned_time: bool,
}

/// The tenant's analytics rules an admin may change.
#[derive(Object, Debug, Clone)]
pub struct TenantRules {
    /// See [`TenantView::planned_stops_reduce_planned_time`].
    pub planned_stops_reduce_planned_time: bool,
}

impl From<TenantProfile> for TenantView {
    fn from(profile: TenantProfile) -> Self {
        TenantView {
            tenant_id: profile.tenant_id,
            name: profile.name,
            timezone: profile.timezone,
            language: profile.language.to_owned(),
            filters: profile.filters.into_iter().map(str::to_owned).collect(),
            planned_stops_reduce_planned_time: profile.planned_stops_reduce_planned_time,
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

    /// Change the tenant's analytics rules (plant administrators). Audited;
    /// every KPI read after the answer applies the new rule, over all history
    /// (nothing is recomputed: the rule is applied when events are read).
    #[oai(path = "/tenant/rules", method = "put")]
    async fn put_rules(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<TenantRules>,
    ) -> Result<Json<TenantView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        crate::plant::service::set_planned_stops_rule(&state.plant(), &actor, body.0.planned_stops_reduce_planned_time)
            .await?;
        let profile = crate::tenants::profile(&state.databases, &state.cache, caller.tenant_id).await?;
        Ok(Json(profile.into()))
    }
}
