//! `/api/v1/webhooks`: webhook subscriptions of the tenant and their
//! delivery log (admins: a webhook's secret is an integration credential,
//! so the right is `manage_api_keys`). The secret is shown once, in the
//! creation answer. Deliveries, signatures, retries and the SSRF rule are
//! [`crate::notify::webhooks`]'s; docs/webhooks.md explains them to clients.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::app::SharedState;
use crate::audit::AuditEntry;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManageApiKeys};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::notify::webhooks::{self, DeliveryRow, EventType, NewWebhook, WebhookRow};

/// An event type a webhook can take.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "WebhookEvent", rename_all = "snake_case")]
pub enum WebhookEventView {
    /// An alert rule fired.
    Alert,
    /// A line stopped.
    DowntimeStarted,
    /// A stop ended.
    DowntimeEnded,
    /// A shift ended.
    ShiftEnded,
}

impl From<EventType> for WebhookEventView {
    fn from(event: EventType) -> Self {
        match event {
            EventType::Alert => WebhookEventView::Alert,
            EventType::DowntimeStarted => WebhookEventView::DowntimeStarted,
            EventType::DowntimeEnded => WebhookEventView::DowntimeEnded,
            EventType::ShiftEnded => WebhookEventView::ShiftEnded,
        }
    }
}

/// A webhook subscription (never its secret).
#[derive(Object, Debug, Clone)]
pub struct WebhookView {
    /// Id.
    pub webhook_id: i32,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types it takes.
    pub events: Vec<WebhookEventView>,
    /// False once disabled (after 5 deliveries in a row ended `failed`).
    pub is_active: bool,
    /// Deliveries ended `failed` in a row (reset by a delivered one).
    pub consecutive_failures: i32,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// When it was disabled (UTC).
    #[oai(nullable)]
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
}

impl From<&WebhookRow> for WebhookView {
    fn from(row: &WebhookRow) -> Self {
        WebhookView {
            webhook_id: row.webhook_id,
            url: row.url.clone(),
            events: row.event_types().into_iter().map(WebhookEventView::from).collect(),
            is_active: row.is_active,
            consecutive_failures: row.consecutive_failures,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            disabled_at: row.disabled_at.map(|t| t.and_utc()),
            disabled_reason: row.disabled_reason.clone(),
        }
    }
}

/// A webhook to subscribe.
#[derive(Object, Debug, Clone)]
pub struct WebhookRequest {
    /// Target: an `http` or `https` URL (at most 2048 characters, no user
    /// or password) whose host resolves to public addresses only, unless
    /// the server allows private targets (`CAMET_WEBHOOKS_ALLOW_PRIVATE`).
    #[oai(validator(max_length = 2048))]
    pub url: String,
    /// Event types, at least one, each once: `alert`, `downtime_started`,
    /// `downtime_ended`, `shift_ended`.
    #[oai(validator(max_items = 4))]
    pub events: Vec<String>,
}

/// A created webhook, with its signing secret shown this once.
#[derive(Object, Debug, Clone)]
pub struct CreatedWebhook {
    /// The webhook.
    #[oai(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` + base64 of the signing key: verify `webhook-signature`
    /// with it. Shown only now; store it safely.
    pub secret: String,
}

/// A webhook was created.
#[derive(ApiResponse)]
pub enum WebhookCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedWebhook>),
}

/// Outcome of a delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "DeliveryStatus", rename_all = "snake_case")]
pub enum DeliveryStatusView {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer came back.
    Delivered,
    /// Every attempt failed, or the webhook was disabled first.
    Failed,
}

/// One message to one webhook, with its latest attempt.
#[derive(Object, Debug, Clone)]
pub struct DeliveryView {
    /// Id.
    pub delivery_id: i64,
    /// The `webhook-id` header sent (the same on every attempt): dedupe by it.
    pub message_id: String,
    /// Event type.
    pub event_type: String,
    /// Status.
    pub status: DeliveryStatusView,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (UTC; pending only).
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// HTTP status of the latest attempt, when an answer came.
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    /// Duration of the latest attempt, in milliseconds.
    #[oai(nullable)]
    pub latency_ms: Option<i64>,
    /// What went wrong in the latest attempt.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// Queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When a 2xx came back (UTC).
    #[oai(nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        let status = match row.status.as_str() {
            webhooks::status::DELIVERED => DeliveryStatusView::Delivered,
            webhooks::status::PENDING => DeliveryStatusView::Pending,
            _ => DeliveryStatusView::Failed,
        };
        DeliveryView {
            delivery_id: row.delivery_id,
            message_id: row.message_id,
            event_type: row.event_type,
            status,
            attempts: row.attempts,
            next_attempt_at: (status == DeliveryStatusView::Pending).then(|| row.next_attempt_at.and_utc()),
            last_status_code: row.last_status_code,
            latency_ms: row.latency_ms,
            last_error: row.last_error,
            created_at: row.created_at.and_utc(),
            delivered_at: row.delivered_at.map(|t| t.and_utc()),
        }
    }
}

/// A page of deliveries.
#[derive(Object)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub items: Vec<DeliveryView>,
    /// Deliveries of the webhook in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

fn default_limit() -> i64 {
    50
}

/// Webhook subscriptions and their delivery log.
pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Live")]
impl WebhooksApi {
    /// List the tenant's webhooks, oldest first (admins). Secrets are never listed.
    #[oai(path = "/webhooks", method = "get")]
    async fn list_webhooks(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageApiKeys>,
    ) -> Result<Json<Vec<WebhookView>>, ApiError> {
        let mut conn = state.databases.tenant(caller.tenant_id).await?.get().await?;
        let rows = webhooks::list(&mut conn).await?;
        Ok(Json(rows.iter().map(WebhookView::from).collect()))
    }

    /// Subscribe a webhook (admins; at most 20 per tenant). The answer holds
    /// the signing `secret`, shown this once.
    #[oai(path = "/webhooks", method = "post")]
    async fn create_webhook(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageApiKeys>,
        body: Json<WebhookRequest>,
    ) -> Result<WebhookCreated, ApiError> {
        let client = client_info(req, &state);
        let audit = AuditEntry::new("webhooks.create", Some(caller.tenant_id), caller.user_id, &client);
        let input = NewWebhook {
            url: body.0.url,
            events: body.0.events,
        };
        let mut conn = state.databases.tenant(caller.tenant_id).await?.get().await?;
        let row = webhooks::create(
            &mut conn,
            &input,
            state.config.notify.webhooks_allow_private,
            &audit,
            state.clock.now(),
        )
        .await?;
        drop(conn);
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(WebhookCreated::Created(Json(CreatedWebhook {
            webhook: WebhookView::from(&row),
            secret: row.secret,
        })))
    }

    /// Delete a webhook and its delivery log (admins); queued messages are not sent.
    #[oai(path = "/webhooks/:webhook_id", method = "delete")]
    async fn delete_webhook(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageApiKeys>,
        webhook_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let audit = AuditEntry::new("webhooks.delete", Some(caller.tenant_id), caller.user_id, &client);
        let mut conn = state.databases.tenant(caller.tenant_id).await?.get().await?;
        webhooks::delete(&mut conn, webhook_id.0, &audit).await?;
        drop(conn);
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(NoContent::Done)
    }

    /// A webhook's deliveries, newest first (admins): status, attempts and
    /// the latest attempt's status code, latency and error.
    #[oai(path = "/webhooks/:webhook_id/deliveries", method = "get")]
    async fn list_deliveries(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageApiKeys>,
        webhook_id: Path<i32>,
        /// Page size (1-500).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<DeliveryPage>, ApiError> {
        let mut conn = state.databases.tenant(caller.tenant_id).await?.get().await?;
        let (rows, total) = webhooks::deliveries(&mut conn, webhook_id.0, limit.0, offset.0).await?;
        Ok(Json(DeliveryPage {
            items: rows.into_iter().map(DeliveryView::from).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }
}
