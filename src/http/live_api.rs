//! `GET /api/v1/lines/state` (every line's state now, with its current
//! stop and shift-to-date OEE) and `GET /api/v1/stream` (the tenant's live
//! events as `text/event-stream`). Thin: authenticate, call
//! [`crate::live`], map.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::analytics::time::format_instant;
use crate::app::SharedState;
use crate::error::AppError;
use crate::http::ApiTags;
use crate::http::caller::{Caller, ReadData};
use crate::http::problem::ApiError;

/// One line's state now.
#[derive(Object, Debug, Clone)]
pub struct LineStateView {
    /// Line.
    pub line_id: i32,
    /// Its name.
    pub line_name: String,
    /// `running`, `stopped` (no output for longer than the line's downtime
    /// threshold in planned time), `unplanned` (outside planned time) or
    /// `no_data` (in planned time, but the line never had an output
    /// detection or has no output area).
    pub state: String,
    /// Since when, in the tenant's offset (null when unknown).
    #[oai(nullable)]
    pub since: Option<String>,
    /// Seconds the current stop has lasted (`stopped` only).
    #[oai(nullable)]
    pub current_stop_seconds: Option<f64>,
    /// OEE of the current shift occurrence so far (of the local day for a
    /// line without shifts); null outside every shift or when it cannot be
    /// computed (a product without `production_std`).
    #[oai(nullable)]
    pub shift_oee: Option<f64>,
    /// The shift measured (null: the local day, or none).
    #[oai(nullable)]
    pub shift_id: Option<i32>,
}

/// Every line's state.
#[derive(Object, Debug, Clone)]
pub struct LineStates {
    /// One per active line, by id.
    pub items: Vec<LineStateView>,
    /// When it was observed, in the tenant's offset.
    pub at: String,
}

/// A `text/event-stream` answer: frames as the bus renders them.
pub struct EventStream(Body);

impl IntoResponse for EventStream {
    fn into_response(self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .content_type("text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            // Proxies such as nginx buffer answers unless told not to.
            .header("x-accel-buffering", "no")
            .body(self.0)
    }
}

impl ApiResponse for EventStream {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Server-sent events: `id`, `event` (line_state, downtime_started, downtime_ended, \
                              production, kpi, alert, shift_ended) and a JSON `data` per event; comment \
                              lines as heartbeats.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "text/event-stream",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// The `Last-Event-ID` a client resumes from: the header (what browsers
/// send on reconnecting), else the `last_event_id` query parameter.
fn last_event_id(req: &poem::Request, query: Option<&str>) -> Result<Option<u64>, AppError> {
    let header = req.headers().get("last-event-id").and_then(|v| v.to_str().ok());
    match header.or(query).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AppError::invalid_field("last_event_id", "must be the id of an event (a whole number)")),
    }
}

/// Line state and the live event stream.
pub struct LiveApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Live")]
impl LiveApi {
    /// Every active line's state now: running, stopped, unplanned or
    /// no_data, since when, how long the current stop has lasted and the
    /// shift-to-date OEE.
    #[oai(path = "/lines/state", method = "get")]
    async fn line_states(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
    ) -> Result<Json<LineStates>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let now = state.clock.now();
        let tz = snapshot.timezone;
        let mut items = Vec::new();
        for status in crate::live::state::current(&mut conn, &snapshot, now).await? {
            let figures = match snapshot.line_areas(status.line_id) {
                Ok(_) => crate::live::state::shift_oee(&mut conn, &snapshot, status.line_id, now).await?,
                Err(_) => None,
            };
            items.push(LineStateView {
                line_id: status.line_id,
                line_name: status.line_name,
                state: status.held.state.name().to_owned(),
                since: status.held.since.map(|s| format_instant(s, tz)),
                current_stop_seconds: status.current_stop_seconds,
                shift_oee: figures.as_ref().and_then(|f| f.oee.oee),
                shift_id: figures.and_then(|f| f.shift_id),
            });
        }
        Ok(Json(LineStates {
            items,
            at: format_instant(now, tz),
        }))
    }

    /// The tenant's live events as server-sent events (`text/event-stream`):
    /// `line_state`, `downtime_started`, `downtime_ended`, `production`,
    /// `kpi`, `alert` and `shift_ended`, each with an increasing `id`. A
    /// client that reconnects with `Last-Event-ID` first gets the events it
    /// missed that the server still keeps (`CAMET_STREAM_BACKLOG` per
    /// tenant); when some are gone it gets a `resync` event first (reload
    /// `/lines/state`). Heartbeat comments keep idle connections open. A
    /// client that does not read fast enough is dropped; the stream ends
    /// after `CAMET_STREAM_MAX_SECS` (reconnect). Too many open streams:
    /// 429.
    #[oai(path = "/stream", method = "get")]
    async fn stream(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<ReadData>,
        /// Resume after this event id (when the `Last-Event-ID` header cannot be set).
        last_event_id: poem_openapi::param::Query<Option<String>>,
    ) -> Result<EventStream, ApiError> {
        let resume = self::last_event_id(req, last_event_id.0.as_deref())?;
        let subscription = state.live.open(caller.tenant_id, resume).map_err(AppError::from)?;
        // A first frame right away: the client knows the stream is live,
        // and how long to wait before reconnecting.
        let mut first = String::from("retry: 3000\n\n");
        if subscription.missed() {
            first.push_str(
                "event: resync\ndata: {\"reason\":\"events after your Last-Event-ID are no longer kept\"}\n\n",
            );
        }
        let frames = subscription.start(Some(bytes::Bytes::from(first)));
        let body = futures::stream::unfold(frames, |mut frames| async move {
            frames
                .recv()
                .await
                .map(|frame| (Ok::<_, std::io::Error>(frame), frames))
        });
        Ok(EventStream(Body::from_bytes_stream(body)))
    }
}
