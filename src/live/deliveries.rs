//! What leaves the server when something happens: the webhook messages of
//! the event types subscriptions take, and alert e-mails. The senders are
//! [`crate::notify`]'s (a queue in the tenant database, sent by the
//! `notify_delivery` job); this module picks what each event becomes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::alerts::{Alert, Rule};
use super::event::EventKind;
use crate::db::DbConn;
use crate::error::AppResult;
use crate::notify::mail::{AlertNotice, enqueue_alert};
use crate::notify::webhooks::{EventType, enqueue};
use crate::plant::cache::PlantSnapshot;

/// The webhook event type of a live event, if subscriptions can take it.
pub fn webhook_type(kind: EventKind) -> Option<EventType> {
    match kind {
        EventKind::Alert => Some(EventType::Alert),
        EventKind::DowntimeStarted => Some(EventType::DowntimeStarted),
        EventKind::DowntimeEnded => Some(EventType::DowntimeEnded),
        EventKind::ShiftEnded => Some(EventType::ShiftEnded),
        EventKind::LineState | EventKind::Production | EventKind::Kpi => None,
    }
}

/// Queues the webhook messages of an event (alerts, stops, shift ends;
/// other kinds are stream-only), in the evaluator's connection.
pub async fn queue(conn: &mut DbConn, kind: EventKind, data: &Value, now: DateTime<Utc>) -> AppResult<()> {
    if let Some(event_type) = webhook_type(kind) {
        enqueue(conn, event_type, data, now).await?;
    }
    Ok(())
}

/// Mails a new alert to its rule's addresses, in the tenant's language.
pub async fn mail_alert(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    rule: &Rule,
    alert: &Alert,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if rule.emails.is_empty() {
        return Ok(());
    }
    let notice = AlertNotice {
        rule_name: rule.name.clone(),
        kind: rule.kind.name().to_owned(),
        line_name: snapshot.lines.get(&alert.line_id).map(|l| l.line_name.clone()),
        message: alert.message.clone(),
        fired_at_local: crate::analytics::time::local_label(alert.fired_at, snapshot.timezone),
        value: alert.value,
        threshold: rule.target().or(rule.threshold_seconds.map(f64::from)),
    };
    enqueue_alert(conn, &rule.emails, snapshot.language, &notice, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_contracts_webhook_events_are_delivered() {
        let delivered: Vec<EventKind> = [
            EventKind::LineState,
            EventKind::DowntimeStarted,
            EventKind::DowntimeEnded,
            EventKind::Production,
            EventKind::Kpi,
            EventKind::Alert,
            EventKind::ShiftEnded,
        ]
        .into_iter()
        .filter(|k| webhook_type(*k).is_some())
        .collect();
        assert_eq!(
            delivered,
            [
                EventKind::DowntimeStarted,
                EventKind::DowntimeEnded,
                EventKind::Alert,
                EventKind::ShiftEnded
            ]
        );
    }
}
