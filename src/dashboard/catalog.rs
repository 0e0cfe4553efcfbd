//! The widget catalog (global `widget_catalog`), the built-in default layouts
//! per role, and the tenant templates that replace them
//! (`dashboard_template`). The catalog stores each widget's class name; the
//! [`super::widgets`] registry turns it into behaviour.

use std::collections::BTreeMap;

use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::roles::Role;
use crate::dashboard::i18n::{Localized, localize};
use crate::dashboard::widgets::Lang;
use crate::db::Databases;
use crate::db::schema::global::{dashboard_template, widget_catalog};
use crate::error::{AppError, AppResult, FieldError};

/// One catalog row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogWidget {
    /// Id (referenced by layouts).
    pub widget_id: i32,
    /// Human name.
    pub widget_name: String,
    /// Output shape: `line_chart`, `pie_chart`, `comparison_bar`, `kpi_card`,
    /// `table`, `pareto_chart`, `waterfall_chart`.
    pub widget_type: String,
    /// Registered implementation (see `GET /dashboard/widgets/catalog`).
    pub class_name: String,
    /// `internal` (detections) or `external` (data broker).
    pub source_type: String,
    /// JSON Schema of the widget's params.
    pub required_params: Value,
}

/// The common params every internal widget accepts.
fn base_schema(extra: Value, required: &[&str]) -> Value {
    let mut properties = json!({
        "line_id": {"type": "integer", "minimum": 1},
        "start_date": {"type": "string", "minLength": 1, "maxLength": 64},
        "end_date": {"type": "string", "minLength": 1, "maxLength": 64},
        "product_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 1000},
        "area_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 100},
        "shift_id": {"type": ["integer", "null"]},
        "downtime_threshold": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "interval": {"type": "string", "enum": ["1min", "15min", "1hour", "1day", "1week", "1month"], "default": "15min"},
        "show_stops": {"type": "boolean", "default": true},
        "lang": {"type": "string", "enum": ["es", "en"]}
    });
    if let (Some(map), Value::Object(more)) = (properties.as_object_mut(), extra) {
        map.extend(more);
    }
    let mut needed = vec!["line_id", "start_date", "end_date"];
    needed.extend_from_slice(required);
    json!({"type": "object", "properties": properties, "required": needed, "additionalProperties": false})
}

fn kpi_schema(default: &str) -> Value {
    base_schema(
        json!({"kpi_type": {"type": "string", "default": default, "enum": [
            "oee", "availability", "performance", "quality", "total_production", "good_units",
            "total_weight", "downtime_count", "total_downtime_seconds"
        ]}}),
        &["kpi_type"],
    )
}

/// The built-in widgets' names, by id - 1: stored in Spanish (as the
/// original design seeded them), shown in English with `lang=en`.
pub const WIDGET_NAMES: [Localized; 11] = [
    Localized {
        es: "Producción por Tiempo",
        en: "Production over time",
    },
    Localized {
        es: "KPI OEE",
        en: "OEE KPI",
    },
    Localized {
        es: "KPI Producción Total",
        en: "Total production KPI",
    },
    Localized {
        es: "Comparación Entrada/Salida",
        en: "Input/output comparison",
    },
    Localized {
        es: "Distribución de Productos",
        en: "Product distribution",
    },
    Localized {
        es: "Tabla de Paradas",
        en: "Downtime table",
    },
    Localized {
        es: "KPI Peso Total",
        en: "Total weight KPI",
    },
    Localized {
        es: "KPI Paradas",
        en: "Stops KPI",
    },
    Localized {
        es: "Serie Externa",
        en: "External series",
    },
    Localized {
        es: "Pareto de Paradas por Razón",
        en: "Downtime Pareto by reason",
    },
    Localized {
        es: "Cascada de Pérdidas",
        en: "Loss waterfall",
    },
];

/// The built-in catalog, seeded into `widget_catalog` (ids 1-6 are the ones
/// the original design's default layouts reference).
pub fn builtin() -> Vec<CatalogWidget> {
    let widget = |id: i32, name: Localized, kind: &str, class: &str, source: &str, schema: Value| CatalogWidget {
        widget_id: id,
        widget_name: name.es.to_owned(),
        widget_type: kind.to_owned(),
        class_name: class.to_owned(),
        source_type: source.to_owned(),
        required_params: schema,
    };
    vec![
        widget(
            1,
            WIDGET_NAMES[0],
            "line_chart",
            "ProductionLineChart",
            "internal",
            base_schema(json!({}), &[]),
        ),
        widget(2, WIDGET_NAMES[1], "kpi_card", "KpiCard", "internal", kpi_schema("oee")),
        widget(
            3,
            WIDGET_NAMES[2],
            "kpi_card",
            "KpiCard",
            "internal",
            kpi_schema("total_production"),
        ),
        widget(
            4,
            WIDGET_NAMES[3],
            "comparison_bar",
            "InputOutputComparison",
            "internal",
            base_schema(json!({}), &[]),
        ),
        widget(
            5,
            WIDGET_NAMES[4],
            "pie_chart",
            "ProductDistributionPie",
            "internal",
            base_schema(json!({}), &[]),
        ),
        widget(
            6,
            WIDGET_NAMES[5],
            "table",
            "DowntimeTable",
            "internal",
            base_schema(json!({}), &[]),
        ),
        widget(
            7,
            WIDGET_NAMES[6],
            "kpi_card",
            "KpiCard",
            "internal",
            kpi_schema("total_weight"),
        ),
        widget(
            8,
            WIDGET_NAMES[7],
            "kpi_card",
            "KpiCard",
            "internal",
            kpi_schema("downtime_count"),
        ),
        widget(
            9,
            WIDGET_NAMES[8],
            "line_chart",
            "ExternalSeriesChart",
            "external",
            json!({
                "type": "object",
                "properties": {
                    "api_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    "label": {"type": "string", "maxLength": 100},
                    "lang": {"type": "string", "enum": ["es", "en"]}
                },
                "required": ["api_id"]
            }),
        ),
        widget(
            10,
            WIDGET_NAMES[9],
            "pareto_chart",
            "DowntimePareto",
            "internal",
            base_schema(json!({}), &[]),
        ),
        widget(
            11,
            WIDGET_NAMES[10],
            "waterfall_chart",
            "LossWaterfall",
            "internal",
            base_schema(json!({}), &[]),
        ),
    ]
}

/// Inserts the built-in widgets that are missing (by id); never overwrites
/// a row an operator changed. Returns how many were added.
pub async fn seed_builtin(databases: &Databases) -> AppResult<usize> {
    let mut conn = databases.global().get().await?;
    let now = crate::clock::now_naive();
    let existing: Vec<i32> = crate::with_conn!(&mut conn, |c| widget_catalog::table
        .select(widget_catalog::widget_id)
        .load::<i32>(c)
        .await)?;
    let mut added = 0;
    for w in builtin().into_iter().filter(|w| !existing.contains(&w.widget_id)) {
        crate::with_conn!(&mut conn, |c| diesel::insert_into(widget_catalog::table)
            .values((
                widget_catalog::widget_id.eq(w.widget_id),
                widget_catalog::widget_name.eq(&w.widget_name),
                widget_catalog::widget_type.eq(&w.widget_type),
                widget_catalog::class_name.eq(&w.class_name),
                widget_catalog::source_type.eq(&w.source_type),
                widget_catalog::required_params.eq(w.required_params.to_string()),
                widget_catalog::created_at.eq(now),
            ))
            .execute(c)
            .await)?;
        added += 1;
    }
    Ok(added)
}

/// The whole catalog by id. A row whose schema is not valid JSON keeps an
/// empty schema here and fails only its own widget later.
pub async fn load(databases: &Databases) -> AppResult<BTreeMap<i32, CatalogWidget>> {
    let mut conn = databases.global().get().await?;
    let rows: Vec<(i32, String, String, String, String, String)> = crate::with_conn!(&mut conn, |c| {
        widget_catalog::table
            .select((
                widget_catalog::widget_id,
                widget_catalog::widget_name,
                widget_catalog::widget_type,
                widget_catalog::class_name,
                widget_catalog::source_type,
                widget_catalog::required_params,
            ))
            .order(widget_catalog::widget_id)
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(widget_id, widget_name, widget_type, class_name, source_type, schema)| {
                let required_params = serde_json::from_str(&schema).unwrap_or(Value::Null);
                (
                    widget_id,
                    CatalogWidget {
                        widget_id,
                        widget_name,
                        widget_type,
                        class_name,
                        source_type,
                        required_params,
                    },
                )
            },
        )
        .collect())
}

/// The whole catalog by id, built-in names in `lang` (names an operator
/// changed stay as written).
pub async fn load_in(databases: &Databases, lang: Lang) -> AppResult<BTreeMap<i32, CatalogWidget>> {
    let mut catalog = load(databases).await?;
    for entry in catalog.values_mut() {
        entry.widget_name = localize(&entry.widget_name, &WIDGET_NAMES, lang);
    }
    Ok(catalog)
}

/// One widget placed on the 12-column grid, with optional fixed params
/// (e.g. `{"kpi_type": "oee"}`) merged over the run's filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutCell {
    /// Catalog widget.
    pub widget_id: i32,
    /// Column (0-11).
    pub x: i32,
    /// Row.
    pub y: i32,
    /// Width in columns (1-12).
    pub w: i32,
    /// Height in rows.
    pub h: i32,
    /// Params fixed for this cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

/// A dashboard layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Cells in display order.
    pub grid: Vec<LayoutCell>,
}

fn cell(widget_id: i32, x: i32, y: i32, w: i32, h: i32) -> LayoutCell {
    LayoutCell {
        widget_id,
        x,
        y,
        w,
        h,
        params: None,
    }
}

/// The built-in layouts: the original design's (admin; viewer for the
/// rest), the admin's with the loss widgets (Pareto and waterfall) below.
pub fn default_layout(role: Role) -> Layout {
    let grid = match role {
        Role::Admin | Role::Manager => vec![
            cell(1, 0, 0, 8, 4),
            cell(2, 8, 0, 4, 2),
            cell(3, 8, 2, 4, 2),
            cell(4, 0, 4, 6, 4),
            cell(5, 6, 4, 6, 4),
            cell(6, 0, 8, 12, 4),
            cell(10, 0, 12, 6, 4),
            cell(11, 6, 12, 6, 4),
        ],
        Role::Viewer => vec![cell(1, 0, 0, 12, 4), cell(2, 0, 4, 6, 2), cell(5, 6, 4, 6, 4)],
    };
    Layout { grid }
}

/// The layout of `role` in a tenant: its template, else the built-in one.
pub async fn layout_for(databases: &Databases, tenant_id: i32, role: Role) -> AppResult<Layout> {
    use diesel::OptionalExtension;
    let mut conn = databases.global().get().await?;
    let stored: Option<String> = crate::with_conn!(&mut conn, |c| dashboard_template::table
        .filter(dashboard_template::tenant_id.eq(tenant_id))
        .filter(dashboard_template::role_access.eq(role.as_str()))
        .select(dashboard_template::layout_config)
        .first::<String>(c)
        .await
        .optional())?;
    match stored {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            AppError::internal(format!(
                "stored layout of {role} in tenant {tenant_id} is unreadable: {e}"
            ))
        }),
        None => Ok(default_layout(role)),
    }
}

/// Checks a layout against the grid and the catalog; one 422 names every bad cell field.
pub fn validate_layout(layout: &Layout, catalog: &BTreeMap<i32, CatalogWidget>) -> AppResult<()> {
    let mut errors = Vec::new();
    if layout.grid.len() > 50 {
        errors.push(FieldError::new("grid", "at most 50 widgets"));
    }
    for (i, c) in layout.grid.iter().enumerate() {
        if !catalog.contains_key(&c.widget_id) {
            errors.push(FieldError::new(
                format!("grid[{i}].widget_id"),
                format!("unknown widget {}", c.widget_id),
            ));
        }
        if !(0..12).contains(&c.x) {
            errors.push(FieldError::new(format!("grid[{i}].x"), "must be 0-11"));
        }
        if !(1..=12).contains(&c.w) || c.x + c.w > 12 {
            errors.push(FieldError::new(
                format!("grid[{i}].w"),
                "must be 1-12 and fit the 12 columns",
            ));
        }
        if !(0..=1000).contains(&c.y) {
            errors.push(FieldError::new(format!("grid[{i}].y"), "must be 0-1000"));
        }
        if !(1..=100).contains(&c.h) {
            errors.push(FieldError::new(format!("grid[{i}].h"), "must be 1-100"));
        }
        if c.params.as_ref().is_some_and(|p| !p.is_object()) {
            errors.push(FieldError::new(format!("grid[{i}].params"), "must be an object"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// Stores the template of `role` for a tenant (insert or replace), audited
/// in the same transaction.
pub async fn store_template(
    databases: &Databases,
    tenant_id: i32,
    role: Role,
    layout: &Layout,
    audit: crate::audit::AuditEntry,
) -> AppResult<Layout> {
    use crate::audit::AuditConn;
    let catalog = load(databases).await?;
    validate_layout(layout, &catalog)?;
    let text = serde_json::to_string(layout).map_err(AppError::internal)?;
    let now = crate::clock::now_naive();
    let mut conn = databases.global().get().await?;
    crate::write_tx!(&mut conn, |c| {
        let updated = diesel::update(
            dashboard_template::table
                .filter(dashboard_template::tenant_id.eq(tenant_id))
                .filter(dashboard_template::role_access.eq(role.as_str())),
        )
        .set((
            dashboard_template::layout_config.eq(&text),
            dashboard_template::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        if updated == 0 {
            diesel::insert_into(dashboard_template::table)
                .values((
                    dashboard_template::tenant_id.eq(tenant_id),
                    dashboard_template::role_access.eq(role.as_str()),
                    dashboard_template::layout_config.eq(&text),
                    dashboard_template::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
        }
        c.write_audit(
            &audit
                .clone()
                .entity("dashboard_template", role.as_str())
                .values::<(), _>(None, Some(layout)),
        )
        .await?;
        Ok::<_, AppError>(())
    })?;
    Ok(layout.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layouts_only_reference_builtin_widgets() {
        let catalog: BTreeMap<i32, CatalogWidget> = builtin().into_iter().map(|w| (w.widget_id, w)).collect();
        for role in [Role::Admin, Role::Manager, Role::Viewer] {
            assert!(validate_layout(&default_layout(role), &catalog).is_ok(), "{role}");
        }
        assert_eq!(default_layout(Role::Admin).grid.len(), 8);
        assert_eq!(default_layout(Role::Manager), default_layout(Role::Admin));
        assert_eq!(default_layout(Role::Viewer).grid.len(), 3);
    }

    #[test]
    fn every_builtin_widget_is_named_in_both_languages() {
        let widgets = builtin();
        assert_eq!(widgets.len(), WIDGET_NAMES.len());
        for (w, name) in widgets.iter().zip(WIDGET_NAMES) {
            assert_eq!(w.widget_name, name.es, "stored in Spanish");
            assert!(!name.en.is_empty() && name.en != name.es, "{} is translated", name.es);
            assert_eq!(localize(&w.widget_name, &WIDGET_NAMES, Lang::En), name.en);
            assert_eq!(localize(name.en, &WIDGET_NAMES, Lang::Es), name.es);
        }
        assert_eq!(localize("Mi gráfico", &WIDGET_NAMES, Lang::En), "Mi gráfico");
    }

    #[test]
    fn every_builtin_schema_compiles() {
        for w in builtin() {
            assert!(
                jsonschema::validator_for(&w.required_params).is_ok(),
                "{}",
                w.widget_name
            );
        }
    }

    #[test]
    fn bad_cells_are_named() {
        let catalog: BTreeMap<i32, CatalogWidget> = builtin().into_iter().map(|w| (w.widget_id, w)).collect();
        let layout = Layout {
            grid: vec![cell(1, 0, 0, 12, 4), cell(99, 10, 0, 4, 2)],
        };
        let Err(AppError::Validation { errors, .. }) = validate_layout(&layout, &catalog) else {
            panic!("expected a 422");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["grid[1].widget_id", "grid[1].w"]);
    }
}
