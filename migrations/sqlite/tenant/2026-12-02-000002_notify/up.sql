-- Outgoing deliveries (issue 15): webhook subscriptions, the messages queued
-- for them (one row per message and webhook, the delivery log too), and
-- e-mail waiting to be sent. A row changes only after its attempt ends, so a
-- crash between sending and recording means one more attempt (at least once;
-- receivers dedupe by `message_id`, the `webhook-id` header).
-- events: JSON array of event type names. secret: `whsec_` + base64, kept to
-- sign every delivery (shown to the client once, at creation).
CREATE TABLE webhooks (
    webhook_id INTEGER PRIMARY KEY AUTOINCREMENT,
    url VARCHAR(2048) NOT NULL,
    events TEXT NOT NULL,
    secret VARCHAR(128) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    consecutive_failures INT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP NULL,
    disabled_reason VARCHAR(500) NULL
);

-- status: pending | delivered | failed. The latest attempt's outcome is kept
-- (status code, error, latency); attempts counts them all.
CREATE TABLE webhook_deliveries (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INT NOT NULL,
    message_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(32) NOT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_status_code INT NULL,
    last_error VARCHAR(500) NULL,
    latency_ms BIGINT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, delivery_id);

-- recipients: JSON array of addresses. status: pending | sent | failed.
CREATE TABLE mail_outbox (
    mail_id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipients TEXT NOT NULL,
    subject VARCHAR(500) NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error VARCHAR(500) NULL,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
