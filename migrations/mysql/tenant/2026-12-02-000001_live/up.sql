-- Live monitoring (issue 15): alert rules, their firings, each line's last
-- published state and the instants the evaluator has handled. Written by
-- the one instance holding the live leases, read by every instance.
CREATE TABLE alert_rule (
    rule_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(120) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    -- NULL: every line of the tenant.
    line_id INT NULL,
    threshold_seconds INT NULL,
    -- Percent × 100 (exact to two decimals).
    target_bp INT NULL,
    window_seconds INT NULL,
    -- JSON array of e-mail addresses notified on firing.
    emails TEXT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per firing. `active` stays true while the rule's condition holds,
-- so a firing is not repeated; `status` is what people did with it.
CREATE TABLE alert (
    alert_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    rule_id INT NOT NULL,
    line_id INT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    active BOOLEAN NOT NULL,
    message VARCHAR(500) NOT NULL,
    -- The measured value × 1000 (seconds or percent).
    value_milli BIGINT NULL,
    fire_key VARCHAR(64) NOT NULL,
    fired_at DATETIME(6) NOT NULL,
    acknowledged_at DATETIME(6) NULL,
    acknowledged_by INT NULL,
    resolved_at DATETIME(6) NULL,
    resolved_by INT NULL,
    UNIQUE KEY uq_alert_firing (rule_id, line_id, fire_key),
    KEY idx_alert_active (rule_id, line_id, active),
    KEY idx_alert_fired (fired_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The state last published for each line, so a new lease holder goes on
-- without repeating transitions.
CREATE TABLE line_live_state (
    line_id INT NOT NULL PRIMARY KEY,
    state VARCHAR(16) NOT NULL,
    since DATETIME(6) NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Up to when a periodic check has run (e.g. shift ends reported).
CREATE TABLE live_cursor (
    name VARCHAR(40) NOT NULL PRIMARY KEY,
    at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
