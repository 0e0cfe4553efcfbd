//! Outgoing deliveries: webhooks signed like the Standard Webhooks spec and
//! alert e-mail over SMTP. Both are queues in the tenant database
//! (`webhook_deliveries`, `mail_outbox`): whoever raises an event only
//! queues it ([`webhooks::enqueue`], [`mail::enqueue_alert`]); the
//! `notify_delivery` job (one instance at a time, under its lease) sends
//! what is due ([`webhooks::deliver_due`], [`mail::send_due`]), retrying
//! with exponential backoff and full jitter ([`retry`]).
//!
//! At least once: a row changes only after its attempt ends, so a crash or
//! a stop between sending and recording means one more attempt with the same
//! `webhook-id`; receivers dedupe by it.
//!
//! Webhook targets are checked against server-side request forgery
//! ([`ssrf`]) at creation and again, at connect time, on every delivery.
//!
//! Dependencies point down: this module takes connections, pools and config
//! values, never the application state or the web layer.

pub mod mail;
pub mod retry;
pub mod signing;
pub mod ssrf;
pub mod webhooks;

pub use mail::AlertNotice;
pub use webhooks::EventType;

use std::sync::LazyLock;

use tokio::sync::Notify;

/// Wakes the delivery job of this process early (after an enqueue), so a
/// message leaves within moments instead of at the next period.
static DUE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Tells the delivery job something was queued. Cheap; a wake nobody waits
/// for is lost, and the job's period catches the message anyway.
pub fn wake() {
    DUE.notify_waiters();
}

/// Resolves at the next [`wake`].
pub async fn woken() {
    DUE.notified().await;
}

/// Cuts `text` to at most `max` characters (for stored error texts).
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
