//! Names in both languages (semantics §7): the built-in widgets and filters
//! are named in Spanish by default and in English with `lang=en` (or an
//! English `Accept-Language`); names an operator or a tenant wrote
//! themselves stay as written. The expected names are spelled out here, not
//! read from the code under test.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends};

/// Every built-in widget, by id: (Spanish, English).
const WIDGETS: [(i64, &str, &str); 11] = [
    (1, "Producción por Tiempo", "Production over time"),
    (2, "KPI OEE", "OEE KPI"),
    (3, "KPI Producción Total", "Total production KPI"),
    (4, "Comparación Entrada/Salida", "Input/output comparison"),
    (5, "Distribución de Productos", "Product distribution"),
    (6, "Tabla de Paradas", "Downtime table"),
    (7, "KPI Peso Total", "Total weight KPI"),
    (8, "KPI Paradas", "Stops KPI"),
    (9, "Serie Externa", "External series"),
    (10, "Pareto de Paradas por Razón", "Downtime Pareto by reason"),
    (11, "Cascada de Pérdidas", "Loss waterfall"),
];

/// Every filter type: (class, Spanish name, English name, Spanish description, English description).
const FILTERS: [(&str, &str, &str, &str, &str); 8] = [
    ("LineFilter", "Línea", "Line", "Línea de producción", "Production line"),
    (
        "DateRangeFilter",
        "Rango de Fechas",
        "Date range",
        "Filtro de fecha inicio y fin",
        "Start and end date filter",
    ),
    (
        "ProductFilter",
        "Productos",
        "Products",
        "Selección múltiple de productos",
        "Multiple selection of products",
    ),
    (
        "AreaFilter",
        "Áreas",
        "Areas",
        "Áreas de la línea donde se cuenta",
        "Areas of the line where units are counted",
    ),
    ("ShiftFilter", "Turno", "Shift", "Turno de trabajo", "Work shift"),
    (
        "IntervalFilter",
        "Intervalo",
        "Interval",
        "Intervalo de agregación",
        "Aggregation interval",
    ),
    (
        "DowntimeThresholdFilter",
        "Umbral de parada",
        "Downtime threshold",
        "Segundos sin producción que cuentan como parada",
        "Seconds without output that count as a stop",
    ),
    (
        "ShowStopsFilter",
        "Mostrar paradas",
        "Show stops",
        "Marcar las paradas en los gráficos",
        "Mark the stops on the charts",
    ),
];

async fn get_json(app: &TestApp, token: &str, path: &str, accept_language: Option<&str>) -> Value {
    let mut request = app.authed(Method::GET, path, token);
    if let Some(lang) = accept_language {
        request = request.header("accept-language", lang);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// `(name field, description field)` of each entry of a list, by `key_field`.
fn by_key(list: &Value, key_field: &str, name_field: &str) -> Vec<(String, Value)> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            (
                item[key_field]
                    .as_str()
                    .map_or_else(|| item[key_field].to_string(), str::to_owned),
                item[name_field].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_and_filter_names_follow_the_language_and_own_names_stay() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let plant = app
            .line_plant(
                "Idiomas",
                json!({"line_name": "L", "line_code": "L1"}),
                &[json!({"product_name": "P", "product_code": "P1", "production_std": 60})],
                &[],
            )
            .await;
        let token = plant.token();
        // One filter row per type, named as the original design names them (in Spanish)...
        for (class, es, _, description, _) in FILTERS {
            app.post_ok(
                &token,
                "/api/v1/production/filters",
                json!({"filter_name": es, "class_name": class, "description": description}),
            )
            .await;
        }
        // ... and one the tenant named itself, which no language changes.
        app.post_ok(
            &token,
            "/api/v1/production/filters",
            json!({"filter_name": "Turno planta norte", "class_name": "ShiftFilter", "description": "Elegido por el jefe"}),
        )
        .await;

        for (query, header, english) in [
            ("?lang=en", None, true),
            ("?lang=es", Some("en-GB,en;q=0.9"), false),
            ("", None, false),
            ("", Some("en-US"), true),
        ] {
            let filters = get_json(&app, &token, &format!("/api/v1/dashboard/filters{query}"), header).await;
            let names = by_key(&filters, "filter_id", "filter_name");
            let descriptions = by_key(&filters, "filter_id", "description");
            let mut expected_names: Vec<Value> =
                FILTERS.iter().map(|f| json!(if english { f.2 } else { f.1 })).collect();
            expected_names.push(json!("Turno planta norte"));
            let mut expected_descriptions: Vec<Value> =
                FILTERS.iter().map(|f| json!(if english { f.4 } else { f.3 })).collect();
            expected_descriptions.push(json!("Elegido por el jefe"));
            assert_eq!(
                names.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
                expected_names,
                "{backend:?} filters{query} {header:?}"
            );
            assert_eq!(
                descriptions.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
                expected_descriptions,
                "{backend:?} filters{query} {header:?}"
            );

            let catalog = get_json(
                &app,
                &token,
                &format!("/api/v1/dashboard/widgets/catalog{query}"),
                header,
            )
            .await;
            let names: Vec<Value> = by_key(&catalog, "widget_id", "widget_name")
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            let expected: Vec<Value> = WIDGETS.iter().map(|w| json!(if english { w.2 } else { w.1 })).collect();
            assert_eq!(names, expected, "{backend:?} catalog{query} {header:?}");
        }

        // A run names its widgets in the run's language; a name an operator
        // changed in the catalog stays as written.
        {
            use diesel::{ExpressionMethods, QueryDsl};
            use diesel_async::RunQueryDsl;
            let mut conn = app.state.databases.global().get().await.expect("conn");
            camet::with_conn!(&mut conn, |c| {
                use camet::db::schema::global::widget_catalog;
                diesel::update(widget_catalog::table.filter(widget_catalog::widget_id.eq(6)))
                    .set(widget_catalog::widget_name.eq("Paradas del turno"))
                    .execute(c)
                    .await
            })
            .expect("rename widget 6");
        }
        for (query, english) in [("?lang=en", true), ("", false)] {
            let run = app
                .post_ok(&token, &format!("/api/v1/dashboard/run{query}"), json!({"filters": {}}))
                .await;
            let names: Vec<(i64, Value)> = run["widgets"]
                .as_array()
                .expect("widgets")
                .iter()
                .map(|w| (w["widget_id"].as_i64().unwrap_or_default(), w["widget_name"].clone()))
                .collect();
            let expected: Vec<(i64, Value)> = [1, 2, 3, 4, 5, 6, 10, 11]
                .into_iter()
                .map(|id| {
                    let (_, es, en) = WIDGETS[id as usize - 1];
                    let name = match id {
                        6 => "Paradas del turno",
                        _ if english => en,
                        _ => es,
                    };
                    (id, json!(name))
                })
                .collect();
            assert_eq!(names, expected, "{backend:?} run{query}");
        }
        app.stop().await;
    }
}
