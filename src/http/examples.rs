//! Examples of the OpenAPI document, in one table: every request body, the
//! main responses, and the parameters "Try it out" needs.
//!
//! They are written for the demo plant (`camet demo`, or the first `camet
//! serve` on an empty embedded database): tenant 1, line 1 "Línea
//! Principal" with areas 1 (input), 2 (process) and 3 (output), products 1
//! and 2, shifts 1 to 3, and the admin `admin`. So Swagger UI's pre-filled
//! requests answer with demo figures (the login's password is the one the
//! server printed once). The KPI ranges run from 2026-11-01 to 2027-11-01:
//! the demo's seven days of detections end when it was created, so any demo
//! made in that year lies inside them; the dashboard example uses the
//! `last_7_days` preset, which always does.
//!
//! A test sends every request example to a server holding the demo plant and
//! expects a success (`tests/it/openapi.rs`).

use serde_json::{Value, json};

use crate::http::spec::Doc;

/// The examples of one operation.
pub struct OperationExamples {
    /// HTTP method, lowercase as in the document.
    pub method: &'static str,
    /// Path template as in the document.
    pub path: &'static str,
    /// Parameter examples by name.
    pub parameters: Vec<(&'static str, Value)>,
    /// Request body example.
    pub request: Option<Value>,
    /// Response examples by status.
    pub responses: Vec<(&'static str, Value)>,
}

fn op(method: &'static str, path: &'static str) -> OperationExamples {
    OperationExamples {
        method,
        path,
        parameters: Vec::new(),
        request: None,
        responses: Vec::new(),
    }
}

impl OperationExamples {
    fn params(mut self, parameters: Vec<(&'static str, Value)>) -> Self {
        self.parameters = parameters;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.request = Some(body);
        self
    }
    fn answers(mut self, status: &'static str, body: Value) -> Self {
        self.responses.push((status, body));
        self
    }
}

/// The demo line.
const LINE: i32 = 1;
/// Start of the example KPI range (tenant local date).
const FROM: &str = "2026-11-01";
/// End of the example KPI range (exclusive; clipped at now by the server).
const TO: &str = "2027-11-01";

fn user_view(user_id: i32, username: &str, role: &str, permissions: &[&str]) -> Value {
    json!({
        "user_id": user_id,
        "username": username,
        "email": format!("{username}@demo.local"),
        "role": role,
        "tenant_id": 1,
        "permissions": permissions,
        "is_active": true
    })
}

const VIEWER_RIGHTS: [&str; 2] = ["read_data", "run_dashboards"];
const ADMIN_RIGHTS: [&str; 10] = [
    "read_data",
    "run_dashboards",
    "ingest_detections",
    "manage_plant",
    "manage_dashboards",
    "manage_templates",
    "manage_users",
    "manage_api_keys",
    "read_audit",
    "manage_system",
];

fn kpi_range() -> Value {
    json!({"line_id": LINE, "start_date": FROM, "end_date": TO})
}

/// Every example of the document.
pub fn all() -> Vec<OperationExamples> {
    let detections = json!([
        {"detected_at": "2026-11-27T10:15:00-03:00", "area_id": 1, "product_id": 1, "external_id": "cam-in-000123"},
        {"detected_at": "2026-11-27T10:15:40-03:00", "area_id": 3, "product_id": 1, "external_id": "cam-out-000123"}
    ]);
    vec![
        op("post", "/api/v1/auth/login")
            .body(json!({"username": "admin", "password": "the password camet printed at first start", "tenant_id": 1}))
            .answers(
                "200",
                json!({
                    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                    "refresh_token": "3q2-7wEXAMPLEv3nS9aZ0Lk1mN2bV3cX4zQ5wE6rT7y",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "user": user_view(1, "admin", "admin", &ADMIN_RIGHTS)
                }),
            ),
        op("post", "/api/v1/auth/refresh").body(json!({"refresh_token": "3q2-7wEXAMPLEv3nS9aZ0Lk1mN2bV3cX4zQ5wE6rT7y"})),
        op("get", "/api/v1/auth/me").answers(
            "200",
            json!({"tenant_id": 1, "user_id": 1, "username": "admin", "api_key_id": null, "role": "admin", "permissions": ADMIN_RIGHTS}),
        ),
        op("get", "/api/v1/tenant").answers(
            "200",
            json!({
                "tenant_id": 1,
                "name": "Demo Plant",
                "timezone": "America/Santiago",
                "language": "es",
                "filters": ["line_id", "date_range", "product_ids", "area_ids", "shift_id", "interval", "downtime_threshold", "show_stops"],
                "planned_stops_reduce_planned_time": true
            }),
        ),
        op("put", "/api/v1/tenant/rules").body(json!({"planned_stops_reduce_planned_time": false})),
        op("post", "/api/v1/users")
            .body(json!({"username": "maria", "email": "maria@demo.local", "role": "viewer", "password": "Turno-Noche-2026"}))
            .answers("201", user_view(2, "maria", "viewer", &VIEWER_RIGHTS)),
        op("get", "/api/v1/users").answers(
            "200",
            json!({"items": [user_view(1, "admin", "admin", &ADMIN_RIGHTS), user_view(2, "maria", "viewer", &VIEWER_RIGHTS)],
                   "total": 2, "limit": 50, "offset": 0}),
        ),
        op("put", "/api/v1/users/{user_id}")
            .params(vec![("user_id", json!(2))])
            .body(json!({"role": "manager", "permissions": {"grant": [], "deny": ["manage_plant"]}}))
            .answers(
                "200",
                user_view(
                    2,
                    "maria",
                    "manager",
                    &["read_data", "run_dashboards", "ingest_detections", "manage_dashboards"],
                ),
            ),
        op("post", "/api/v1/users/{user_id}/password")
            .params(vec![("user_id", json!(2))])
            .body(json!({"new_password": "Turno-Tarde-2027"})),
        op("post", "/api/v1/api-keys")
            .body(json!({"name": "ERP pull", "role": "viewer", "rate_limit_per_minute": 600}))
            .answers(
                "201",
                json!({
                    "key": "cmt_k7Q2xEXAMPLEr8Jm1VbN0pL4sT6wY9zAq3Hd5FgUo",
                    "api_key": {
                        "api_key_id": 1, "name": "ERP pull", "key_prefix": "cmt_k7Q2xEXA", "role": "viewer",
                        "rate_limit_per_minute": 600, "created_at": "2026-11-28T12:00:00Z",
                        "last_used_at": null, "revoked_at": null
                    }
                }),
            ),
        op("post", "/api/v1/webhooks")
            .body(json!({"url": "https://erp.example.com/camet/webhooks", "events": ["alert", "shift_ended"]}))
            .answers(
                "201",
                json!({
                    "webhook_id": 1, "url": "https://erp.example.com/camet/webhooks", "events": ["alert", "shift_ended"],
                    "is_active": true, "consecutive_failures": 0,
                    "created_at": "2026-12-02T12:00:00Z", "updated_at": "2026-12-02T12:00:00Z",
                    "disabled_at": null, "disabled_reason": null,
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                }),
            ),
        op("get", "/api/v1/webhooks").answers(
            "200",
            json!([{
                "webhook_id": 1, "url": "https://erp.example.com/camet/webhooks", "events": ["alert", "shift_ended"],
                "is_active": true, "consecutive_failures": 0,
                "created_at": "2026-12-02T12:00:00Z", "updated_at": "2026-12-02T12:00:00Z",
                "disabled_at": null, "disabled_reason": null
            }]),
        ),
        op("get", "/api/v1/webhooks/{webhook_id}/deliveries")
            .params(vec![("webhook_id", json!(1))])
            .answers(
                "200",
                json!({
                    "items": [{
                        "delivery_id": 7, "message_id": "msg_2f1c9e0a4b6d4e8f9a3b5c7d1e2f3a4b", "event_type": "alert",
                        "status": "delivered", "attempts": 2, "next_attempt_at": null,
                        "last_status_code": 200, "latency_ms": 84, "last_error": null,
                        "created_at": "2026-12-02T12:05:00Z", "delivered_at": "2026-12-02T12:05:06Z"
                    }],
                    "total": 1, "limit": 50, "offset": 0
                }),
            ),
        op("delete", "/api/v1/webhooks/{webhook_id}").params(vec![("webhook_id", json!(1))]),
        op("post", "/api/v1/production/lines")
            .body(json!({"line_name": "Línea Envasado", "line_code": "LE02", "availability": "95", "performance": "85", "downtime_threshold": 300, "micro_stop_threshold": 30})),
        op("put", "/api/v1/production/lines/{line_id}")
            .params(vec![("line_id", json!(LINE))])
            .body(json!({"line_name": "Línea Principal", "line_code": "LP01", "availability": "95", "performance": "85", "downtime_threshold": 240, "micro_stop_threshold": 20})),
        op("post", "/api/v1/production/areas")
            .body(json!({"line_id": LINE, "area_name": "Inspección", "area_type": "process", "area_order": 4, "coord_x1": 300, "coord_y1": 0, "coord_x2": 400, "coord_y2": 100})),
        op("put", "/api/v1/production/areas/{area_id}")
            .params(vec![("area_id", json!(2))])
            .body(json!({"line_id": LINE, "area_name": "Proceso", "area_type": "process", "area_order": 2, "coord_x1": 100, "coord_y1": 0, "coord_x2": 200, "coord_y2": 100})),
        op("post", "/api/v1/production/products")
            .body(json!({"product_name": "Producto C", "product_code": "PC001", "product_weight": "4.75", "product_color": "#22c55e", "production_std": "110", "product_per_batch": 40})),
        op("put", "/api/v1/production/products/{product_id}")
            .params(vec![("product_id", json!(2))])
            .body(json!({"product_name": "Producto B", "product_code": "PB001", "product_weight": "3.2", "product_color": "#3b82f6", "production_std": "125", "product_per_batch": 60})),
        op("post", "/api/v1/production/shifts")
            .body(json!({"shift_name": "Turno Sábado", "description": "Sábados de 8:00 a 14:00", "days_implemented": ["Saturday"], "start_time": "08:00", "end_time": "14:00", "is_overnight": false, "breaks": [{"start_time": "11:00", "end_time": "11:15"}]})),
        op("put", "/api/v1/production/shifts/{shift_id}")
            .params(vec![("shift_id", json!(3))])
            .body(json!({"shift_name": "Turno Noche", "description": "Turno de 23:00 a 7:00", "days_implemented": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "start_time": "23:00", "end_time": "07:00", "is_overnight": true, "breaks": [{"start_time": "03:00", "end_time": "03:30"}]})),
        op("post", "/api/v1/production/calendar")
            .body(json!({"name": "Fiestas Patrias", "start_date": "2027-09-18", "end_date": "2027-09-19", "line_ids": []})),
        op("put", "/api/v1/production/calendar/{entry_id}")
            .params(vec![("entry_id", json!(1))])
            .body(json!({"name": "Mantención anual", "start_date": "2027-02-01", "end_date": "2027-02-14", "line_ids": [LINE]})),
        op("post", "/api/v1/production/filters")
            .body(json!({"filter_name": "Umbral de parada", "class_name": "DowntimeThresholdFilter", "description": "Segundos sin detecciones que cuentan como parada", "default_value": 300})),
        op("put", "/api/v1/production/filters/{filter_id}")
            .params(vec![("filter_id", json!(2))])
            .body(json!({"filter_name": "Intervalo", "class_name": "IntervalFilter", "description": "Intervalo de agregación", "default_value": {"interval": "1hour"}})),
        // The default reason tree of a new tenant: categories 1 (BREAKDOWN)
        // to 5, then their reasons; 8 is BRK-JAM, a breakdown reason and so
        // a failure type.
        op("get", "/api/v1/production/downtime-reasons")
            .params(vec![("loss_class", json!("setup"))])
            .answers(
                "200",
                json!({"items": [
                    {"reason_id": 2, "parent_id": null, "code": "SETUP", "name": "Preparación", "name_es": "Preparación", "name_en": "Setup", "description": null, "color": "#f59e0b", "loss_class": "setup", "is_active": true, "created_at": "2026-11-30T12:00:00Z", "updated_at": "2026-11-30T12:00:00Z"},
                    {"reason_id": 10, "parent_id": 2, "code": "SET-CHANGEOVER", "name": "Cambio de producto", "name_es": "Cambio de producto", "name_en": "Changeover", "description": null, "color": "#d97706", "loss_class": "setup", "is_active": true, "created_at": "2026-11-30T12:00:00Z", "updated_at": "2026-11-30T12:00:00Z"}
                ], "total": 2, "limit": 100, "offset": 0}),
            ),
        op("post", "/api/v1/production/downtime-reasons")
            .body(json!({"parent_id": 2, "code": "SET-CLEAN", "name": "Limpieza de cambio", "name_en": "Changeover clean-up"})),
        op("put", "/api/v1/production/downtime-reasons/{reason_id}")
            .params(vec![("reason_id", json!(8))])
            .body(json!({"parent_id": 1, "code": "BRK-JAM", "name": "Atasco en cinta", "name_en": "Conveyor jam", "color": "#f87171", "loss_class": "breakdown", "is_active": true})),
        op("post", "/api/v1/production/failures")
            .body(json!({"type_failure": "Atasco de cinta", "description": "La cinta transportadora se detuvo"})),
        op("put", "/api/v1/production/failures/{failure_id}")
            .params(vec![("failure_id", json!(8))])
            .body(json!({"type_failure": "Atasco de cinta", "description": "Cinta detenida por un envase caído"})),
        op("post", "/api/v1/production/incidents")
            .body(json!({"line_id": LINE, "description": "Parada por atasco en la salida", "reported_at": "2026-11-27T11:05:00Z"})),
        op("put", "/api/v1/production/incidents/{incident_id}")
            .params(vec![("incident_id", json!(1))])
            .body(json!({"line_id": LINE, "description": "Atasco resuelto", "reported_at": "2026-11-27T11:05:00Z", "resolved_at": "2026-11-27T11:32:00Z"})),
        op("post", "/api/v1/lines/{line_id}/detections")
            .params(vec![("line_id", json!(LINE))])
            .body(detections)
            .answers("200", json!({"received": 2, "inserted": 2, "duplicates": 0})),
        op("post", "/api/v1/lines/{line_id}/rollups/refresh")
            .params(vec![("line_id", json!(LINE))])
            .body(json!({"start_date": "2026-11-27T00:00:00", "end_date": "2026-11-28T00:00:00"})),
        op("post", "/api/v1/metrics/oee").body(kpi_range()).answers(
            "200",
            json!({
                "line_id": LINE,
                "start_date": "2026-11-01T00:00:00-03:00",
                "end_date": "2026-11-28T18:00:00-03:00",
                "planned_time_seconds": 432000.0,
                "total_downtime_seconds": 21840.0,
                "downtime_count": 41,
                "operating_time_seconds": 410160.0,
                "availability": 94.94,
                "total_production": 352114,
                "good_units": 348901,
                "rejected_units": 3213,
                "performance": 86.12,
                "quality": 99.09,
                "oee": 81.02,
                "total_weight": 1591263.45,
                "warnings": [],
                "planned_stops_reduce_planned_time": true,
                "data_as_of": "2026-11-28T17:58:00-03:00"
            }),
        ),
        op("get", "/api/v1/metrics/oee").params(vec![
            ("line_id", json!(LINE)),
            ("start_date", json!(FROM)),
            ("end_date", json!(TO)),
        ]),
        op("get", "/api/v1/metrics/losses")
            .params(vec![
                ("line_id", json!(LINE)),
                ("start_date", json!(FROM)),
                ("end_date", json!(TO)),
            ])
            .answers(
                "200",
                json!({
                    "line_id": LINE,
                    "start_date": "2026-11-01T00:00:00-03:00",
                    "end_date": "2026-11-28T18:00:00-03:00",
                    "downtime_threshold_seconds": 300.0,
                    "micro_stop_threshold_seconds": 30.0,
                    "planned_time_seconds": 432000.0,
                    "operating_time_seconds": 410160.0,
                    "losses": [
                        {"loss_class": "breakdown", "reason_id": 3, "seconds": 9600.0, "count": 12},
                        {"loss_class": "setup", "reason_id": 5, "seconds": 5400.0, "count": 8},
                        {"loss_class": "unassigned", "reason_id": null, "seconds": 6840.0, "count": 21}
                    ],
                    "micro_stops": {"count": 214, "seconds": 6420.0},
                    "ideal_time_seconds": 353230.0,
                    "speed_loss_seconds": 50510.0,
                    "quality_loss_seconds": 3210.5,
                    "fully_productive_seconds": 350019.5,
                    "mtbf_seconds": 34180.0,
                    "mttr_seconds": 800.0,
                    "teep": 15.0,
                    "warnings": [],
                    "planned_stops_reduce_planned_time": true,
                    "data_as_of": "2026-11-28T17:58:00-03:00"
                }),
            ),
        op("post", "/api/v1/metrics/query").body(json!({
            "line_ids": [LINE],
            "start_date": FROM,
            "end_date": TO,
            "grain": "1day",
            "dimensions": ["shift"],
            "measures": ["oee", "availability", "performance", "quality", "good_units"]
        })),
        op("get", "/api/v1/metrics/query").params(vec![
            ("preset", json!("yesterday")),
            ("dimensions", json!("line,shift")),
            ("measures", json!("oee,good_units,total_downtime_seconds")),
        ]),
        op("post", "/api/v1/metrics/summary").body(kpi_range()).answers(
            "200",
            json!({
                "line_id": LINE,
                "total_production": 352114,
                "total_weight": 1591263.45,
                "product_distribution": {"Producto A": 209340, "Producto B": 139561},
                "downtime_count": 41,
                "total_downtime_seconds": 21840.0,
                "data_as_of": "2026-11-28T17:58:00-03:00"
            }),
        ),
        op("get", "/api/v1/downtime")
            .params(vec![
                ("line_id", json!(LINE)),
                ("start_date", json!(FROM)),
                ("end_date", json!(TO)),
            ])
            .answers(
                "200",
                json!({
                    "line_id": LINE,
                    "downtime_threshold": 300.0,
                    "events": [
                        {"start": "2026-11-27T10:41:12-03:00", "end": "2026-11-27T10:52:30-03:00", "duration_seconds": 678.0, "ongoing": false}
                    ],
                    "downtime_count": 1,
                    "total_downtime_seconds": 678.0,
                    "data_as_of": "2026-11-28T17:58:00-03:00"
                }),
            ),
        op("post", "/api/v1/downtime/recalculate")
            .body(json!({"line_id": LINE, "start_date": "2026-11-27T00:00:00", "end_date": "2026-11-28T00:00:00"})),
        op("put", "/api/v1/downtime/{line_id}/{event_id}")
            .params(vec![("line_id", json!(LINE)), ("event_id", json!(1))])
            .body(json!({"reason_id": 8, "reason": "Envase caído en la cinta de salida", "incident_id": null})),
        op("post", "/api/v1/downtime/{line_id}/reasons")
            .params(vec![("line_id", json!(LINE))])
            .body(json!({"event_ids": [1, 2, 3], "reason_id": 14, "comment": "Descanso de media mañana"})),
        op("put", "/api/v1/dashboard/templates/{role}")
            .params(vec![("role", json!("viewer"))])
            .body(json!({"grid": [
                {"widget_id": 1, "x": 0, "y": 0, "w": 12, "h": 4},
                {"widget_id": 2, "x": 0, "y": 4, "w": 6, "h": 2},
                {"widget_id": 5, "x": 6, "y": 4, "w": 6, "h": 4}
            ]})),
        op("post", "/api/v1/dashboard/widgets/{widget_id}/data")
            .params(vec![("widget_id", json!(2))])
            .body(json!({"params": {"line_id": LINE, "start_date": FROM, "end_date": TO, "kpi_type": "oee"}})),
        op("get", "/api/v1/lines/state").answers(
            "200",
            json!({
                "items": [{
                    "line_id": LINE,
                    "line_name": "Línea Principal",
                    "state": "stopped",
                    "since": "2026-11-28T17:41:12-03:00",
                    "current_stop_seconds": 408.5,
                    "shift_oee": 71.25,
                    "shift_id": 2
                }],
                "at": "2026-11-28T17:48:00-03:00"
            }),
        ),
        op("post", "/api/v1/alerts/rules")
            .body(json!({
                "name": "Parada larga en Línea Principal",
                "kind": "stop_longer_than",
                "line_id": LINE,
                "threshold_seconds": 600,
                "emails": ["supervisor@example.com"]
            }))
            .answers(
                "201",
                json!({
                    "rule_id": 1,
                    "name": "Parada larga en Línea Principal",
                    "kind": "stop_longer_than",
                    "line_id": LINE,
                    "threshold_seconds": 600,
                    "target": null,
                    "window_seconds": null,
                    "emails": ["supervisor@example.com"],
                    "is_active": true,
                    "created_at": "2026-11-28T20:48:00Z",
                    "updated_at": "2026-11-28T20:48:00Z"
                }),
            ),
        op("put", "/api/v1/alerts/rules/{rule_id}")
            .params(vec![("rule_id", json!(1))])
            .body(json!({"name": "OEE del turno bajo 60 %", "kind": "oee_below", "target": 60, "window_seconds": 1800})),
        op("get", "/api/v1/alerts").answers(
            "200",
            json!({
                "items": [{
                    "alert_id": 7,
                    "rule_id": 1,
                    "line_id": LINE,
                    "kind": "stop_longer_than",
                    "status": "open",
                    "active": true,
                    "message": "Línea Línea Principal parada desde las 17:41 (11 min)",
                    "value": 668.0,
                    "fired_at": "2026-11-28T17:52:12-03:00"
                }],
                "total": 1,
                "limit": 100,
                "offset": 0
            }),
        ),
        op("post", "/api/v1/dashboard/run")
            .body(json!({"filters": {"line_id": LINE, "date_range": {"preset": "last_7_days"}, "interval": "1hour"}})),
    ]
}

/// Writes the examples into a generated document. Operations, parameters or
/// responses the document lacks are skipped (a test finds them).
pub fn apply(document: &mut Doc) {
    for examples in all() {
        let Some(operation) = document.at_mut(&["paths", examples.path, examples.method]) else {
            continue;
        };
        if let Some(body) = &examples.request {
            set_media_examples(operation.at_mut(&["requestBody", "content"]), body);
        }
        for (status, body) in &examples.responses {
            set_media_examples(operation.at_mut(&["responses", status, "content"]), body);
        }
        if let Some(Doc::Array(parameters)) = operation.get_mut("parameters") {
            for (name, value) in &examples.parameters {
                for parameter in parameters.iter_mut() {
                    if parameter.get("name").and_then(Doc::as_str) == Some(name) {
                        parameter.insert("example", Doc::from(value));
                    }
                }
            }
        }
    }
}

/// Sets `example` on every JSON media type of a `content` object. The
/// examples are JSON bodies: the CSV and XLSX forms of an answer (see
/// [`crate::http::formats`]) get none rather than a JSON one.
fn set_media_examples(content: Option<&mut Doc>, example: &Value) {
    if let Some(Doc::Object(media_types)) = content {
        for (media_type, media) in media_types.iter_mut() {
            if media_type.contains("json") {
                media.insert("example", Doc::from(example));
            }
        }
    }
}
