-- Tenant database: plant configuration. Per-line detection and downtime tables
-- (detection_line_<id>, downtime_events_<id>) are created at run time when a line is created.
CREATE TABLE production_line (
    line_id INTEGER PRIMARY KEY AUTOINCREMENT,
    line_name TEXT NOT NULL,
    line_code TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    availability TEXT NULL,
    performance TEXT NULL,
    downtime_threshold INT NOT NULL DEFAULT 300,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NULL,
    CONSTRAINT uq_line_code UNIQUE (line_code)
);
CREATE INDEX idx_line_active ON production_line (is_active);

CREATE TABLE area (
    area_id INTEGER PRIMARY KEY AUTOINCREMENT,
    line_id INT NOT NULL,
    area_name TEXT NOT NULL,
    area_type TEXT NOT NULL,
    area_order INT NOT NULL DEFAULT 0,
    coord_x1 INT NULL,
    coord_y1 INT NULL,
    coord_x2 INT NULL,
    coord_y2 INT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT fk_area_line FOREIGN KEY (line_id) REFERENCES production_line (line_id)
);
CREATE INDEX idx_area_line ON area (line_id);
CREATE INDEX idx_area_type ON area (area_type);

CREATE TABLE product (
    product_id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_name TEXT NOT NULL,
    product_code TEXT NOT NULL,
    product_weight TEXT NULL,
    product_color TEXT NULL,
    production_std TEXT NULL,
    product_per_batch INT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_product_code UNIQUE (product_code)
);

CREATE TABLE shift (
    shift_id INTEGER PRIMARY KEY AUTOINCREMENT,
    shift_name TEXT NOT NULL,
    description TEXT NULL,
    shift_status BOOLEAN NOT NULL DEFAULT 1,
    days_implemented TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    is_overnight BOOLEAN NOT NULL DEFAULT 0,
    line_ids TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE filter (
    filter_id INTEGER PRIMARY KEY AUTOINCREMENT,
    filter_name TEXT NOT NULL,
    class_name TEXT NOT NULL,
    description TEXT NULL,
    filter_status BOOLEAN NOT NULL DEFAULT 1,
    default_value TEXT NULL,
    additional_filter TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE failure (
    failure_id INTEGER PRIMARY KEY AUTOINCREMENT,
    type_failure TEXT NOT NULL,
    description TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE incident (
    incident_id INTEGER PRIMARY KEY AUTOINCREMENT,
    failure_id INT NULL,
    line_id INT NULL,
    description TEXT NULL,
    reported_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_incident_line ON incident (line_id);

-- Audit entries of configuration changes, written in the change's own
-- transaction and forwarded to the global audit_log (idempotently, by source).
CREATE TABLE audit_outbox (
    outbox_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One row; bumped by every configuration write so other server instances notice and reload.
CREATE TABLE config_version (
    id INT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

INSERT INTO config_version (id, version, updated_at) VALUES (1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'));
