-- Global database: tenants, users, sessions, audit, dashboards, widget catalog.
CREATE TABLE tenant (
    tenant_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    company_name VARCHAR(200) NOT NULL,
    timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    config_tenant TEXT NULL,
    asociated_since DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE app_user (
    user_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id INT NOT NULL,
    username VARCHAR(100) NOT NULL,
    email VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    permissions TEXT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    failed_login_count INT NOT NULL DEFAULT 0,
    locked_until DATETIME(6) NULL,
    last_login_at DATETIME(6) NULL,
    password_changed_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_app_user_username (username),
    KEY idx_app_user_tenant (tenant_id),
    CONSTRAINT fk_app_user_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_login (
    login_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id INT NOT NULL,
    tenant_id INT NOT NULL,
    login_at DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    logout_at DATETIME(6) NULL,
    logout_reason VARCHAR(32) NULL,
    expires_at DATETIME(6) NOT NULL,
    ip VARCHAR(64) NULL,
    user_agent VARCHAR(512) NULL,
    KEY idx_login_user (user_id),
    KEY idx_login_time (login_at),
    CONSTRAINT fk_user_login_user FOREIGN KEY (user_id) REFERENCES app_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE audit_log (
    audit_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id INT NULL,
    user_id INT NULL,
    action VARCHAR(64) NOT NULL,
    entity VARCHAR(64) NULL,
    entity_id VARCHAR(64) NULL,
    old_values TEXT NULL,
    new_values TEXT NULL,
    ip VARCHAR(64) NULL,
    user_agent VARCHAR(512) NULL,
    request_id VARCHAR(64) NULL,
    source VARCHAR(80) NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_audit_source (source),
    KEY idx_audit_tenant_time (tenant_id, created_at),
    KEY idx_audit_user (user_id),
    KEY idx_audit_action (action)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE user_query (
    query_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id INT NOT NULL,
    user_id INT NULL,
    query_type VARCHAR(64) NOT NULL,
    filters TEXT NULL,
    elapsed_ms INT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    KEY idx_query_user (user_id),
    KEY idx_query_time (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE widget_catalog (
    widget_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    widget_name VARCHAR(120) NOT NULL,
    widget_type VARCHAR(40) NOT NULL,
    class_name VARCHAR(80) NOT NULL,
    source_type VARCHAR(16) NOT NULL DEFAULT 'internal',
    required_params TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE dashboard_template (
    template_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id INT NOT NULL,
    role_access VARCHAR(16) NOT NULL,
    layout_config TEXT NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_template_tenant_role (tenant_id, role_access)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE api_key (
    api_key_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant_id INT NOT NULL,
    name VARCHAR(100) NOT NULL,
    key_prefix VARCHAR(16) NOT NULL,
    key_hash VARCHAR(128) NOT NULL,
    role VARCHAR(16) NOT NULL,
    rate_limit_per_minute INT NULL,
    created_by INT NULL,
    created_at DATETIME(6) NOT NULL,
    last_used_at DATETIME(6) NULL,
    revoked_at DATETIME(6) NULL,
    UNIQUE KEY uq_api_key_hash (key_hash),
    KEY idx_api_key_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Refresh tokens: stored hashed, single use. A used one presented again
-- revokes its whole session (reuse detection).
CREATE TABLE refresh_token (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    login_id BIGINT NOT NULL,
    issued_at DATETIME(6) NOT NULL,
    used_at DATETIME(6) NULL,
    KEY idx_refresh_login (login_id),
    CONSTRAINT fk_refresh_login FOREIGN KEY (login_id) REFERENCES user_login (login_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Leases that let one server instance at a time run a background job.
CREATE TABLE job_lease (
    name VARCHAR(80) NOT NULL PRIMARY KEY,
    holder VARCHAR(64) NOT NULL,
    expires_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
