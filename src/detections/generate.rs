//! `camet generate`: realistic synthetic detections for a configured line
//! (its areas, active products and shifts), day by day, for demos and
//! benchmarks. The generator itself is the pure [`crate::synth`].

use chrono::{DateTime, Duration, Utc};

use crate::analytics::gaps::GapFloor;
use crate::analytics::interval::Interval;
use crate::clock::Clock;
use crate::db::Databases;
use crate::error::{AppError, AppResult};
use crate::plant::cache::MetadataCache;
use crate::synth::{LineAreas, SynthParams, generate};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// Tenant.
    pub tenant_id: i32,
    /// Line.
    pub line_id: i32,
    /// Days ending at `until`.
    pub days: i64,
    /// Units per second entering the line while it runs.
    pub units_per_second: f64,
    /// RNG seed (same seed, same detections).
    pub seed: u64,
    /// End of the generated period.
    pub until: DateTime<Utc>,
}

/// Where generated detections go, and what stamps them.
#[derive(Clone, Copy)]
pub struct Sink<'a> {
    /// The databases of the tenant's line.
    pub databases: &'a Databases,
    /// The plant cache, refreshed with the tenant's configuration first.
    pub cache: &'a MetadataCache,
    /// The clock that stamps when rows were stored.
    pub clock: &'a Clock,
    /// The floor of the gaps stored with the rows (`CAMET_GAP_FLOOR_SECS`).
    pub gap_floor: GapFloor,
}

/// Generates and stores detections; returns how many were written.
pub async fn run(sink: Sink<'_>, request: &GenerateRequest) -> AppResult<usize> {
    run_with_progress(sink, request, &crate::progress::Silent).await
}

/// [`run`], reporting each day written to `progress`.
pub async fn run_with_progress(
    sink: Sink<'_>,
    request: &GenerateRequest,
    progress: &dyn crate::progress::Progress,
) -> AppResult<usize> {
    if !(request.units_per_second > 0.0 && request.units_per_second <= 1000.0) {
        return Err(AppError::invalid_field(
            "rate",
            "must be between 0 and 1000 units per second",
        ));
    }
    let snapshot = sink.cache.reload(sink.databases, request.tenant_id).await?;
    super::line_of(&snapshot, request.line_id)?;
    let tz = snapshot.timezone;
    let areas = snapshot.areas_of_line(request.line_id);
    let ends = snapshot
        .line_areas(request.line_id)
        .map_err(|e| AppError::invalid_field("line_id", e.to_string()))?;
    let process = areas
        .iter()
        .find(|a| a.is_active && a.area_id != ends.input_area_id && a.area_id != ends.output_area_id)
        .map(|a| a.area_id);
    let mix: Vec<(i32, f64)> = snapshot
        .products
        .values()
        .filter(|p| p.is_active)
        .enumerate()
        .map(|(i, p)| (p.product_id, 1.0 / (i as f64 + 1.0)))
        .collect();
    if mix.is_empty() {
        return Err(AppError::invalid_field("tenant_id", "the tenant has no active product"));
    }
    let schedule = snapshot.schedule();
    let pool = sink.databases.tenant(request.tenant_id).await?;
    let mut conn = pool.get().await?;
    let mut written = 0;
    progress.start(u64::try_from(request.days).unwrap_or(0), "days");
    // One day at a time keeps memory flat whatever the number of days.
    for day in (0..request.days).rev() {
        let from = request.until - Duration::days(day + 1);
        let to = request.until - Duration::days(day);
        let planned = crate::analytics::shifts::planned_set(
            &schedule,
            request.line_id,
            tz,
            &Interval::new(from, to),
            request.until,
            None,
        );
        let intervals: Vec<_> = planned.intervals().iter().map(|iv| (iv.start, iv.end)).collect();
        let params = SynthParams {
            units_per_hour: request.units_per_second * 3600.0,
            product_mix: mix.clone(),
            seed: request.seed.wrapping_add(day as u64),
            ..SynthParams::default()
        };
        let line_areas = LineAreas {
            input: ends.input_area_id,
            process,
            output: ends.output_area_id,
        };
        let rows: Vec<_> = generate(&intervals, line_areas, &params)
            .into_iter()
            .filter(|r| r.detected_at < request.until.naive_utc())
            .collect();
        written += crate::detections::store::insert_detections(
            &mut conn,
            request.line_id,
            &rows,
            sink.clock.now_naive(),
            sink.gap_floor,
        )
        .await?;
        progress.advance(1);
    }
    Ok(written)
}
