//! `GET /api/v1/metrics/losses`: where a line's planned time went
//! (semantics §10). Thin: parse, authorize, delegate to
//! [`crate::kpi::losses`], record the query, map.

use poem::http::HeaderMap;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;

use crate::analytics::interval::micros_to_seconds;
use crate::analytics::time::format_instant;
use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::error::AppResult;
use crate::http::ApiTags;
use crate::http::caller::{Caller, ReadData};
use crate::http::conditional::{Conditional, json_answer};
use crate::http::data_api::id_list;
use crate::http::kpi_views::KpiFilters;
use crate::http::problem::ApiError;
use crate::kpi::{self, losses::LineLosses};

/// Stops of one loss class and reason.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct LossEntry {
    /// `breakdown`, `setup`, `minor_stop`, `planned` or `unassigned`.
    pub loss_class: String,
    /// The reason assigned to these stops; none: unassigned.
    #[oai(nullable)]
    pub reason_id: Option<i32>,
    /// Σ durations.
    pub seconds: f64,
    /// Number of stops.
    pub count: u64,
}

/// Micro-stops: gaps longer than the line's `micro_stop_threshold` and not
/// longer than the downtime threshold, inside operating time.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct MicroStops {
    /// How many.
    pub count: u64,
    /// Their total length.
    pub seconds: f64,
}

/// The loss split of a line over a range (semantics §10):
/// `fully_productive_seconds + quality_loss_seconds + speed_loss_seconds +
/// micro_stops.seconds + Σ losses[].seconds = planned_time_seconds`,
/// exactly (every part is whole microseconds).
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct LossesResponse {
    /// Line.
    pub line_id: i32,
    /// Range start, tenant offset.
    pub start_date: String,
    /// Range end, tenant offset.
    pub end_date: String,
    /// Gaps longer than this are stops.
    pub downtime_threshold_seconds: f64,
    /// Gaps longer than this, and not stops, are micro-stops.
    pub micro_stop_threshold_seconds: f64,
    /// |P|, as in the OEE.
    pub planned_time_seconds: f64,
    /// Planned minus every stop, as in the OEE.
    pub operating_time_seconds: f64,
    /// Availability losses: the stops by loss class and reason.
    pub losses: Vec<LossEntry>,
    /// Micro-stops (part of the performance loss, reported apart).
    pub micro_stops: MicroStops,
    /// Σ input counts × ideal cycle time; none when a counted product has no `production_std`.
    #[oai(nullable)]
    pub ideal_time_seconds: Option<f64>,
    /// Operating − ideal − micro-stops (negative when ideal rates are set too low).
    #[oai(nullable)]
    pub speed_loss_seconds: Option<f64>,
    /// Σ over products of max(input − output, 0) × ideal cycle time.
    #[oai(nullable)]
    pub quality_loss_seconds: Option<f64>,
    /// Ideal − quality loss.
    #[oai(nullable)]
    pub fully_productive_seconds: Option<f64>,
    /// Mean time between failures: operating time ÷ breakdown stops; none without breakdowns.
    #[oai(nullable)]
    pub mtbf_seconds: Option<f64>,
    /// Mean time to repair: mean breakdown length; none without breakdowns.
    #[oai(nullable)]
    pub mttr_seconds: Option<f64>,
    /// OEE × planned ÷ calendar time of the range (clipped at now), percent.
    #[oai(nullable)]
    pub teep: Option<f64>,
    /// Why a figure is none.
    pub warnings: Vec<String>,
    /// The tenant's rule that formed the planned time: true when stops whose
    /// reason has the loss class `planned` left it (they are then in no
    /// bucket), false when they stay here as the `planned` class.
    pub planned_stops_reduce_planned_time: bool,
    /// Up to when direct writes to the raw table are included (as the OEE's).
    pub data_as_of: String,
}

impl LossesResponse {
    fn view(line: LineLosses, tz: chrono_tz::Tz) -> Self {
        let losses = &line.losses;
        let seconds = |micros: Option<i64>| micros.map(micros_to_seconds);
        LossesResponse {
            line_id: line.line_id,
            start_date: format_instant(line.range.start, tz),
            end_date: format_instant(line.range.end, tz),
            downtime_threshold_seconds: micros_to_seconds(line.downtime_threshold.micros()),
            micro_stop_threshold_seconds: micros_to_seconds(line.micro_stop_threshold.micros()),
            planned_time_seconds: micros_to_seconds(losses.planned_micros),
            operating_time_seconds: micros_to_seconds(losses.operating_micros),
            losses: losses
                .availability
                .iter()
                .map(|bucket| LossEntry {
                    loss_class: bucket.loss_class.as_str().to_owned(),
                    reason_id: bucket.reason_id,
                    seconds: micros_to_seconds(bucket.micros),
                    count: bucket.count,
                })
                .collect(),
            micro_stops: MicroStops {
                count: losses.micro_stop_count,
                seconds: micros_to_seconds(losses.micro_stop_micros),
            },
            ideal_time_seconds: seconds(losses.ideal_micros),
            speed_loss_seconds: seconds(losses.speed_loss_micros),
            quality_loss_seconds: seconds(losses.quality_loss_micros),
            fully_productive_seconds: seconds(losses.fully_productive_micros),
            mtbf_seconds: seconds(losses.mtbf_micros),
            mttr_seconds: seconds(losses.mttr_micros),
            teep: losses.teep.and_then(|d| rust_decimal::prelude::ToPrimitive::to_f64(&d)),
            warnings: line.warnings,
            planned_stops_reduce_planned_time: line.planned_stops_reduce_planned_time,
            data_as_of: format_instant(line.data_as_of, tz),
        }
    }
}

async fn losses_view(
    state: &SharedState,
    principal: &Principal,
    filters: &KpiFilters,
) -> AppResult<(LossesResponse, bool)> {
    let now = state.clock.now();
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    let query = kpi::line_query(&filters.form(), &snapshot, state.config.max_range_days)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    let prepared = kpi::prepare(&mut conn, &snapshot, query, now, false).await?;
    let classes = kpi::losses::stop_classes(&mut conn, &snapshot, &prepared).await?;
    let line = kpi::losses::losses(&mut conn, &snapshot, &prepared, &classes, now).await?;
    let settled = crate::http::conditional::settled(prepared.query().range.end, prepared.watermark(now));
    Ok((LossesResponse::view(line, snapshot.timezone), settled))
}

/// Losses.
pub struct LossesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Kpi")]
impl LossesApi {
    /// Where a line's planned time went over `[start_date, end_date)`: stops
    /// by loss class and reason, micro-stops, speed and quality loss, the
    /// fully productive rest, MTBF, MTTR and TEEP.
    ///
    /// `docs/semantics.md` §10. The parts add up to the planned time
    /// exactly; planned time, stops and counts are those of `/metrics/oee`
    /// with the same parameters.
    #[oai(path = "/metrics/losses", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn losses(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        /// Line.
        line_id: Query<i32>,
        /// Range start (RFC 3339; without offset: tenant local time), inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<String>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<String>,
        /// Only these products in the counts (comma-separated ids).
        product_ids: Query<Option<String>>,
        /// Only this shift's occurrences.
        shift_id: Query<Option<i32>>,
        /// Gap in seconds above which the line counts as stopped; default the line's.
        downtime_threshold: Query<Option<f64>>,
    ) -> Result<Conditional<Json<LossesResponse>>, ApiError> {
        let principal = &*caller;
        let ids = id_list("product_ids", product_ids.0.as_deref())?;
        let filters = KpiFilters {
            line_id: line_id.0,
            start_date: start_date.0,
            end_date: end_date.0,
            product_ids: (!ids.is_empty()).then_some(ids),
            shift_id: shift_id.0,
            downtime_threshold: downtime_threshold.0,
        };
        let (response, settled) = crate::query_log::timed(
            &state,
            principal,
            "losses",
            &filters,
            losses_view(&state, principal, &filters),
        )
        .await?;
        Ok(json_answer(response, settled, headers))
    }
}
