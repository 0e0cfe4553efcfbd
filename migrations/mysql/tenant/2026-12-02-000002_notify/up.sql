-- Outgoing deliveries (issue 15): webhook subscriptions, the messages queued
-- for them (one row per message and webhook, the delivery log too), and
-- e-mail waiting to be sent. A row changes only after its attempt ends, so a
-- crash between sending and recording means one more attempt (at least once;
-- receivers dedupe by `message_id`, the `webhook-id` header).
-- events: JSON array of event type names. secret: `whsec_` + base64, kept to
-- sign every delivery (shown to the client once, at creation).
CREATE TABLE webhooks (
    webhook_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    url VARCHAR(2048) NOT NULL,
    events TEXT NOT NULL,
    secret VARCHAR(128) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    consecutive_failures INT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    disabled_at DATETIME(6) NULL,
    disabled_reason VARCHAR(500) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- status: pending | delivered | failed. The latest attempt's outcome is kept
-- (status code, error, latency); attempts counts them all.
CREATE TABLE webhook_deliveries (
    delivery_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id INT NOT NULL,
    message_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(32) NOT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    last_status_code INT NULL,
    last_error VARCHAR(500) NULL,
    latency_ms BIGINT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    delivered_at DATETIME(6) NULL,
    INDEX webhook_deliveries_due (status, next_attempt_at),
    INDEX webhook_deliveries_webhook (webhook_id, delivery_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- recipients: JSON array of addresses. status: pending | sent | failed.
CREATE TABLE mail_outbox (
    mail_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    recipients TEXT NOT NULL,
    subject VARCHAR(500) NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    last_error VARCHAR(500) NULL,
    created_at DATETIME(6) NOT NULL,
    sent_at DATETIME(6) NULL,
    INDEX mail_outbox_due (status, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
