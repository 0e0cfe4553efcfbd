-- Tenant database: plant configuration. Per-line detection and downtime tables
-- (detection_line_<id>, downtime_events_<id>) are created at run time when a line is created.
CREATE TABLE production_line (
    line_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    line_name VARCHAR(120) NOT NULL,
    line_code VARCHAR(40) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    availability DECIMAL(6,2) NULL,
    performance DECIMAL(6,2) NULL,
    downtime_threshold INT NOT NULL DEFAULT 300,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    deleted_at DATETIME(6) NULL,
    UNIQUE KEY uq_line_code (line_code),
    KEY idx_line_active (is_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE area (
    area_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    line_id INT NOT NULL,
    area_name VARCHAR(120) NOT NULL,
    area_type VARCHAR(16) NOT NULL,
    area_order INT NOT NULL DEFAULT 0,
    coord_x1 INT NULL,
    coord_y1 INT NULL,
    coord_x2 INT NULL,
    coord_y2 INT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY idx_area_line (line_id),
    KEY idx_area_type (area_type),
    CONSTRAINT fk_area_line FOREIGN KEY (line_id) REFERENCES production_line (line_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE product (
    product_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_name VARCHAR(120) NOT NULL,
    product_code VARCHAR(40) NOT NULL,
    product_weight DECIMAL(14,4) NULL,
    product_color VARCHAR(32) NULL,
    production_std DECIMAL(14,4) NULL,
    product_per_batch INT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_product_code (product_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE shift (
    shift_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    shift_name VARCHAR(120) NOT NULL,
    description VARCHAR(500) NULL,
    shift_status BOOLEAN NOT NULL DEFAULT TRUE,
    days_implemented TEXT NOT NULL,
    start_time TIME NOT NULL,
    end_time TIME NOT NULL,
    is_overnight BOOLEAN NOT NULL DEFAULT FALSE,
    line_ids TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE filter (
    filter_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    filter_name VARCHAR(120) NOT NULL,
    class_name VARCHAR(80) NOT NULL,
    description VARCHAR(500) NULL,
    filter_status BOOLEAN NOT NULL DEFAULT TRUE,
    default_value TEXT NULL,
    additional_filter TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE failure (
    failure_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    type_failure VARCHAR(120) NOT NULL,
    description VARCHAR(500) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE incident (
    incident_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    failure_id INT NULL,
    line_id INT NULL,
    description VARCHAR(500) NULL,
    reported_at DATETIME(6) NOT NULL,
    resolved_at DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY idx_incident_line (line_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Audit entries of configuration changes, written in the change's own
-- transaction and forwarded to the global audit_log (idempotently, by source).
CREATE TABLE audit_outbox (
    outbox_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    entry TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row; bumped by every configuration write so other server instances notice and reload.
CREATE TABLE config_version (
    id INT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO config_version (id, version, updated_at) VALUES (1, 1, CURRENT_TIMESTAMP(6));
