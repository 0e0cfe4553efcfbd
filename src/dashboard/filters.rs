//! The filter registry. A tenant's `filter` rows name filter types by class;
//! each type validates the client's input, lists its options from the
//! metadata cache (never the database) and contributes its part of the
//! query ([`RunFilters`]) that every widget of a run shares. Adding a filter
//! type is one implementation plus one line in [`registry`].

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use crate::analytics::buckets::BucketInterval;
use crate::analytics::time::{format_instant, local_midnight, parse_range, to_local};
use crate::dashboard::i18n::{Localized, localize};
use crate::dashboard::widgets::Lang;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;

/// The query a dashboard run resolves its filters into.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFilters {
    /// Line.
    pub line_id: i32,
    /// Range start.
    pub start: DateTime<Utc>,
    /// Range end (exclusive).
    pub end: DateTime<Utc>,
    /// Products (empty: all).
    pub product_ids: Vec<i32>,
    /// Areas (empty: each widget's default).
    pub area_ids: Vec<i32>,
    /// Shift.
    pub shift_id: Option<i32>,
    /// Bucket width of charts.
    pub interval: String,
    /// Downtime threshold (seconds); `None`: the line's.
    pub downtime_threshold: Option<f64>,
    /// Whether charts carry the stops.
    pub show_stops: bool,
}

impl RunFilters {
    /// The widget params these filters stand for (the catalog schemas' fields).
    pub fn to_params(&self, tz: Tz) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("line_id".into(), json!(self.line_id));
        params.insert("start_date".into(), json!(format_instant(self.start, tz)));
        params.insert("end_date".into(), json!(format_instant(self.end, tz)));
        params.insert("product_ids".into(), json!(self.product_ids));
        params.insert("area_ids".into(), json!(self.area_ids));
        params.insert("shift_id".into(), json!(self.shift_id));
        params.insert("interval".into(), json!(self.interval));
        params.insert("downtime_threshold".into(), json!(self.downtime_threshold));
        params.insert("show_stops".into(), json!(self.show_stops));
        params
    }
}

/// What filters read: the cached configuration, the zone, the clock, limits.
pub struct FilterContext<'a> {
    /// The tenant's configuration.
    pub snapshot: &'a PlantSnapshot,
    /// The tenant's zone (presets are local days).
    pub tz: Tz,
    /// Now.
    pub now: DateTime<Utc>,
    /// Longest range, days.
    pub max_range_days: u32,
}

/// A filter type.
pub trait FilterType: Send + Sync {
    /// The class name stored in `filter.class_name`.
    fn class_name(&self) -> &'static str;
    /// Its built-in display name, in both languages (the name a tenant's
    /// filter row usually carries; see [`crate::dashboard::i18n`]).
    fn name(&self) -> Localized;
    /// Its built-in description, in both languages.
    fn description(&self) -> Localized;
    /// The field of the request body it reads.
    fn key(&self) -> &'static str;
    /// Choices for a filter panel (from the cache only).
    fn options(&self, ctx: &FilterContext<'_>, line_id: Option<i32>) -> Value;
    /// The value used when neither the client nor the tenant gives one.
    fn builtin_default(&self, ctx: &FilterContext<'_>) -> Value;
    /// Validates `value` and writes its part of the query.
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String>;
}

fn ids(value: &Value) -> Result<Vec<i32>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() <= 1000 => items
            .iter()
            .map(|v| {
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or("ids must be integers".to_owned())
            })
            .collect(),
        _ => Err("must be an array of at most 1000 integer ids".into()),
    }
}

struct LineFilter;
impl FilterType for LineFilter {
    fn class_name(&self) -> &'static str {
        "LineFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Línea",
            en: "Line",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Línea de producción",
            en: "Production line",
        }
    }
    fn key(&self) -> &'static str {
        "line_id"
    }
    fn options(&self, ctx: &FilterContext<'_>, _: Option<i32>) -> Value {
        let lines: Vec<Value> = ctx
            .snapshot
            .lines
            .values()
            .filter(|l| l.is_active)
            .map(|l| json!({"value": l.line_id, "label": l.line_name}))
            .collect();
        Value::Array(lines)
    }
    fn builtin_default(&self, ctx: &FilterContext<'_>) -> Value {
        ctx.snapshot
            .lines
            .values()
            .find(|l| l.is_active)
            .map_or(Value::Null, |l| json!(l.line_id))
    }
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        let id = value
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or("must be a line id (the tenant may have no active line)")?;
        match ctx.snapshot.lines.get(&id) {
            Some(line) if line.is_active => {
                into.line_id = id;
                Ok(())
            }
            _ => Err(format!("line {id} does not exist")),
        }
    }
}

struct DateRangeFilter;
impl DateRangeFilter {
    const PRESETS: [&'static str; 4] = ["today", "yesterday", "last_7_days", "last_30_days"];

    fn preset(name: &str, ctx: &FilterContext<'_>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = to_local(ctx.now, ctx.tz).date();
        let (first, days) = match name {
            "today" => (today, 1),
            "yesterday" => (today.pred_opt()?, 1),
            "last_7_days" => (today.checked_sub_signed(Duration::days(6))?, 7),
            "last_30_days" => (today.checked_sub_signed(Duration::days(29))?, 30),
            _ => return None,
        };
        let end = first.checked_add_signed(Duration::days(days))?;
        Some((local_midnight(ctx.tz, first), local_midnight(ctx.tz, end)))
    }
}
impl FilterType for DateRangeFilter {
    fn class_name(&self) -> &'static str {
        "DateRangeFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Rango de Fechas",
            en: "Date range",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Filtro de fecha inicio y fin",
            en: "Start and end date filter",
        }
    }
    fn key(&self) -> &'static str {
        "date_range"
    }
    fn options(&self, _: &FilterContext<'_>, _: Option<i32>) -> Value {
        json!({"presets": Self::PRESETS, "custom": {"start_date": "RFC 3339 or local time", "end_date": "exclusive"}})
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        json!({"preset": "last_7_days"})
    }
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        if let Some(name) = value.get("preset").and_then(Value::as_str) {
            let (start, end) = Self::preset(name, ctx)
                .ok_or_else(|| format!("unknown preset {name:?}; use one of {}", Self::PRESETS.join(", ")))?;
            into.start = start;
            into.end = end;
            return Ok(());
        }
        let (Some(start), Some(end)) = (
            value.get("start_date").and_then(Value::as_str),
            value.get("end_date").and_then(Value::as_str),
        ) else {
            return Err("give {\"preset\": ...} or {\"start_date\": ..., \"end_date\": ...}".into());
        };
        let range = parse_range(start, end, ctx.tz, ctx.max_range_days).map_err(|e| {
            e.iter()
                .map(|e| format!("{}: {e}", e.field()))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        into.start = range.start;
        into.end = range.end;
        Ok(())
    }
}

struct ProductFilter;
impl FilterType for ProductFilter {
    fn class_name(&self) -> &'static str {
        "ProductFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Productos",
            en: "Products",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Selección múltiple de productos",
            en: "Multiple selection of products",
        }
    }
    fn key(&self) -> &'static str {
        "product_ids"
    }
    fn options(&self, ctx: &FilterContext<'_>, _: Option<i32>) -> Value {
        let products: Vec<Value> = ctx
            .snapshot
            .products
            .values()
            .filter(|p| p.is_active)
            .map(|p| json!({"value": p.product_id, "label": p.product_name, "color": p.product_color}))
            .collect();
        Value::Array(products)
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        json!([])
    }
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        let wanted = ids(value)?;
        if let Some(id) = wanted.iter().find(|id| !ctx.snapshot.products.contains_key(id)) {
            return Err(format!("product {id} does not exist"));
        }
        into.product_ids = wanted;
        Ok(())
    }
}

struct AreaFilter;
impl FilterType for AreaFilter {
    fn class_name(&self) -> &'static str {
        "AreaFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Áreas",
            en: "Areas",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Áreas de la línea donde se cuenta",
            en: "Areas of the line where units are counted",
        }
    }
    fn key(&self) -> &'static str {
        "area_ids"
    }
    fn options(&self, ctx: &FilterContext<'_>, line_id: Option<i32>) -> Value {
        let areas: Vec<Value> = ctx
            .snapshot
            .areas
            .values()
            .filter(|a| a.is_active && line_id.is_none_or(|l| a.line_id == l))
            .map(|a| json!({"value": a.area_id, "label": a.area_name, "line_id": a.line_id, "area_type": a.area_type}))
            .collect();
        Value::Array(areas)
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        json!([])
    }
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        let wanted = ids(value)?;
        for id in &wanted {
            if ctx.snapshot.areas.get(id).is_none_or(|a| a.line_id != into.line_id) {
                return Err(format!("area {id} is not an area of line {}", into.line_id));
            }
        }
        into.area_ids = wanted;
        Ok(())
    }
}

struct ShiftFilter;
impl FilterType for ShiftFilter {
    fn class_name(&self) -> &'static str {
        "ShiftFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Turno",
            en: "Shift",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Turno de trabajo",
            en: "Work shift",
        }
    }
    fn key(&self) -> &'static str {
        "shift_id"
    }
    fn options(&self, ctx: &FilterContext<'_>, _: Option<i32>) -> Value {
        let shifts: Vec<Value> = ctx
            .snapshot
            .shifts
            .values()
            .filter(|s| s.shift_status)
            .map(|s| json!({"value": s.shift_id, "label": s.shift_name}))
            .collect();
        Value::Array(shifts)
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        Value::Null
    }
    fn apply(&self, value: &Value, ctx: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        into.shift_id = match value {
            Value::Null => None,
            v => {
                let id = v
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or("must be a shift id or null")?;
                if !ctx.snapshot.shifts.contains_key(&id) {
                    return Err(format!("shift {id} does not exist"));
                }
                Some(id)
            }
        };
        Ok(())
    }
}

struct IntervalFilter;
impl FilterType for IntervalFilter {
    fn class_name(&self) -> &'static str {
        "IntervalFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Intervalo",
            en: "Interval",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Intervalo de agregación",
            en: "Aggregation interval",
        }
    }
    fn key(&self) -> &'static str {
        "interval"
    }
    fn options(&self, _: &FilterContext<'_>, _: Option<i32>) -> Value {
        json!(BucketInterval::ALL.iter().map(|i| i.as_str()).collect::<Vec<_>>())
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        json!("15min")
    }
    fn apply(&self, value: &Value, _: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        // Tenant defaults were stored as {"interval": "15min"} by the original design.
        let text = value
            .get("interval")
            .unwrap_or(value)
            .as_str()
            .ok_or("must be a string")?;
        let interval = BucketInterval::parse(text).map_err(|e| e.to_string())?;
        into.interval = interval.as_str().to_owned();
        Ok(())
    }
}

struct DowntimeThresholdFilter;
impl FilterType for DowntimeThresholdFilter {
    fn class_name(&self) -> &'static str {
        "DowntimeThresholdFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Umbral de parada",
            en: "Downtime threshold",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Segundos sin producción que cuentan como parada",
            en: "Seconds without output that count as a stop",
        }
    }
    fn key(&self) -> &'static str {
        "downtime_threshold"
    }
    fn options(&self, _: &FilterContext<'_>, _: Option<i32>) -> Value {
        json!({"unit": "s", "exclusive_minimum": 0, "maximum": crate::analytics::downtime::DowntimeThreshold::MAX_SECONDS})
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        Value::Null
    }
    fn apply(&self, value: &Value, _: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        into.downtime_threshold = match value {
            Value::Null => None,
            v => {
                let seconds = v.as_f64().ok_or("must be a number of seconds or null")?;
                crate::analytics::downtime::DowntimeThreshold::from_seconds_f64(seconds).map_err(|e| e.to_string())?;
                Some(seconds)
            }
        };
        Ok(())
    }
}

struct ShowStopsFilter;
impl FilterType for ShowStopsFilter {
    fn class_name(&self) -> &'static str {
        "ShowStopsFilter"
    }
    fn name(&self) -> Localized {
        Localized {
            es: "Mostrar paradas",
            en: "Show stops",
        }
    }
    fn description(&self) -> Localized {
        Localized {
            es: "Marcar las paradas en los gráficos",
            en: "Mark the stops on the charts",
        }
    }
    fn key(&self) -> &'static str {
        "show_stops"
    }
    fn options(&self, _: &FilterContext<'_>, _: Option<i32>) -> Value {
        json!([true, false])
    }
    fn builtin_default(&self, _: &FilterContext<'_>) -> Value {
        json!(true)
    }
    fn apply(&self, value: &Value, _: &FilterContext<'_>, into: &mut RunFilters) -> Result<(), String> {
        into.show_stops = value.as_bool().ok_or("must be true or false")?;
        Ok(())
    }
}

/// Every filter type, in resolution order (the line first: areas depend on it).
pub fn registry() -> &'static [&'static dyn FilterType] {
    &[
        &LineFilter,
        &DateRangeFilter,
        &ProductFilter,
        &AreaFilter,
        &ShiftFilter,
        &IntervalFilter,
        &DowntimeThresholdFilter,
        &ShowStopsFilter,
    ]
}

/// The filter type registered under `class_name`.
pub fn lookup(class_name: &str) -> Option<&'static dyn FilterType> {
    registry().iter().copied().find(|f| f.class_name() == class_name)
}

/// A tenant's active filter, as `GET /dashboard/filters` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveFilter {
    /// Row id.
    pub filter_id: i32,
    /// Name.
    pub filter_name: String,
    /// Type.
    pub class_name: String,
    /// The request field it reads in `POST /dashboard/run {filters}`.
    pub key: String,
    /// Description.
    pub description: Option<String>,
    /// Default value (the tenant's, else the type's).
    pub default: Value,
    /// Choices.
    pub options: Value,
}

fn tenant_default(raw: Option<&str>) -> Option<Value> {
    raw.and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|v| !v.is_null())
}

/// The built-in display name of the filter type `class_name`, in `lang`
/// (what a new filter row should be called).
pub fn builtin_name(class_name: &str, lang: Lang) -> Option<&'static str> {
    lookup(class_name).map(|kind| kind.name().get(lang))
}

/// The built-in description of the filter type `class_name`, in `lang`.
pub fn builtin_description(class_name: &str, lang: Lang) -> Option<&'static str> {
    lookup(class_name).map(|kind| kind.description().get(lang))
}

/// The tenant's active filters with options and defaults (registered types
/// only); names and descriptions that are the type's built-in ones come in
/// `lang`, the tenant's own words as written.
pub fn active(ctx: &FilterContext<'_>, lang: Lang) -> Vec<ActiveFilter> {
    let line = LineFilter
        .builtin_default(ctx)
        .as_i64()
        .and_then(|n| i32::try_from(n).ok());
    ctx.snapshot
        .filters
        .values()
        .filter(|f| f.filter_status)
        .filter_map(|f| {
            let kind = lookup(&f.class_name)?;
            Some(ActiveFilter {
                filter_id: f.filter_id,
                filter_name: localize(&f.filter_name, &[kind.name()], lang),
                class_name: f.class_name.clone(),
                key: kind.key().to_owned(),
                description: f
                    .description
                    .as_deref()
                    .map(|text| localize(text, &[kind.description()], lang)),
                default: tenant_default(f.default_value.as_deref()).unwrap_or_else(|| kind.builtin_default(ctx)),
                options: kind.options(ctx, line),
            })
        })
        .collect()
}

/// Resolves a run's `filters` object: each registered type reads its key
/// (the client's value, else the tenant's default, else its own); a key of
/// a filter the tenant has not enabled, or an unknown key, is a 422. Every
/// failing field is named in one answer.
pub fn resolve(input: &Map<String, Value>, ctx: &FilterContext<'_>) -> AppResult<RunFilters> {
    let enabled: Vec<(&'static dyn FilterType, Option<Value>)> = ctx
        .snapshot
        .filters
        .values()
        .filter(|f| f.filter_status)
        .filter_map(|f| lookup(&f.class_name).map(|k| (k, tenant_default(f.default_value.as_deref()))))
        .collect();
    let mut errors = Vec::new();
    for key in input.keys() {
        match registry().iter().find(|f| f.key() == key) {
            None => errors.push(FieldError::new(format!("filters.{key}"), "unknown filter")),
            Some(kind) if !enabled.iter().any(|(k, _)| k.class_name() == kind.class_name()) => {
                errors.push(FieldError::new(
                    format!("filters.{key}"),
                    format!("{} is not enabled for this tenant", kind.class_name()),
                ))
            }
            Some(_) => {}
        }
    }
    let mut out = RunFilters {
        line_id: 0,
        start: ctx.now,
        end: ctx.now,
        product_ids: Vec::new(),
        area_ids: Vec::new(),
        shift_id: None,
        interval: "15min".into(),
        downtime_threshold: None,
        show_stops: true,
    };
    for kind in registry() {
        let tenant = enabled.iter().find(|(k, _)| k.class_name() == kind.class_name());
        // A client value for a filter the tenant has not enabled was already refused.
        let value = input
            .get(kind.key())
            .filter(|_| tenant.is_some())
            .cloned()
            .or_else(|| tenant.and_then(|(_, d)| d.clone()))
            .unwrap_or_else(|| kind.builtin_default(ctx));
        if let Err(message) = kind.apply(&value, ctx, &mut out) {
            errors.push(FieldError::new(format!("filters.{}", kind.key()), message));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::models::FilterRow;
    use chrono::TimeZone;

    fn ctx(snapshot: &PlantSnapshot) -> FilterContext<'_> {
        FilterContext {
            snapshot,
            tz: chrono_tz::America::Santiago,
            now: Utc.with_ymd_and_hms(2026, 4, 5, 15, 0, 0).single().expect("now"),
            max_range_days: 400,
        }
    }

    fn filter_row(id: i32, class: &str, default: Option<&str>) -> FilterRow {
        FilterRow {
            filter_id: id,
            filter_name: class.into(),
            class_name: class.into(),
            description: None,
            filter_status: true,
            default_value: default.map(str::to_owned),
            additional_filter: None,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn presets_are_local_days_even_across_a_dst_change() {
        let snapshot = PlantSnapshot::default();
        let c = ctx(&snapshot);
        // Santiago goes back from 24:00 to 23:00 on 2026-04-04: that day lasts 25 hours.
        let (start, end) = DateRangeFilter::preset("today", &c).expect("preset");
        assert_eq!((end - start).num_hours(), 24);
        let (start, end) = DateRangeFilter::preset("yesterday", &c).expect("preset");
        assert_eq!((end - start).num_hours(), 25);
        assert_eq!(format_instant(start, c.tz), "2026-04-04T00:00:00-03:00");
        let (start, end) = DateRangeFilter::preset("last_7_days", &c).expect("preset");
        assert_eq!((end - start).num_hours(), 7 * 24 + 1);
        assert_eq!(format_instant(start, c.tz), "2026-03-30T00:00:00-03:00");
        assert!(DateRangeFilter::preset("tomorrow", &c).is_none());
    }

    #[test]
    fn inactive_or_unknown_filter_keys_are_named_and_defaults_apply() {
        let mut snapshot = PlantSnapshot::default();
        snapshot
            .filters
            .insert(1, filter_row(1, "DateRangeFilter", Some(r#"{"preset":"yesterday"}"#)));
        snapshot
            .filters
            .insert(2, filter_row(2, "IntervalFilter", Some(r#"{"interval":"1hour"}"#)));
        let c = ctx(&snapshot);
        let mut input = Map::new();
        input.insert("product_ids".into(), json!([1]));
        input.insert("colour".into(), json!("red"));
        let Err(AppError::Validation { errors, .. }) = resolve(&input, &c) else {
            panic!("expected a 422");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        // No line exists either: the line filter's built-in default is null.
        assert_eq!(fields, vec!["filters.colour", "filters.product_ids", "filters.line_id"]);
    }

    #[test]
    fn every_filter_type_has_a_name_and_description_in_both_languages() {
        let mut english: Vec<&str> = Vec::new();
        for kind in registry() {
            for text in [kind.name(), kind.description()] {
                assert!(!text.es.is_empty() && !text.en.is_empty(), "{}", kind.class_name());
                assert_ne!(text.es, text.en, "{} is translated", kind.class_name());
            }
            english.push(kind.name().en);
        }
        english.sort_unstable();
        english.dedup();
        assert_eq!(english.len(), registry().len(), "names tell the filters apart");
    }

    #[test]
    fn built_in_names_follow_the_language_and_the_tenants_own_stay() {
        let mut snapshot = PlantSnapshot::default();
        let mut line = filter_row(1, "LineFilter", None);
        line.filter_name = "Línea".into();
        line.description = Some("Línea de producción".into());
        let mut shift = filter_row(2, "ShiftFilter", None);
        shift.filter_name = "Turno de la planta norte".into();
        snapshot.filters.insert(1, line);
        snapshot.filters.insert(2, shift);
        let c = ctx(&snapshot);
        let shown = |lang| {
            active(&c, lang)
                .into_iter()
                .map(|f| (f.filter_name, f.description))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(Lang::En),
            vec![
                ("Line".to_owned(), Some("Production line".to_owned())),
                ("Turno de la planta norte".to_owned(), None)
            ]
        );
        assert_eq!(
            shown(Lang::Es)[0],
            ("Línea".to_owned(), Some("Línea de producción".to_owned()))
        );
        assert_eq!(builtin_name("ShowStopsFilter", Lang::En), Some("Show stops"));
        assert_eq!(builtin_name("NoSuchFilter", Lang::En), None);
    }

    #[test]
    fn every_demo_class_is_registered_once() {
        let mut keys: Vec<&str> = registry().iter().map(|f| f.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), registry().len());
        for class in crate::plant::inputs::FILTER_CLASSES {
            assert!(lookup(class).is_some(), "{class}");
        }
    }
}
