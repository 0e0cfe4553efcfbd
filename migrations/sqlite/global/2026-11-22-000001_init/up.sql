-- Global database: tenants, users, sessions, audit, dashboards, widget catalog.
CREATE TABLE tenant (
    tenant_id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_name TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    config_tenant TEXT NULL,
    asociated_since TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE app_user (
    user_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INT NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    permissions TEXT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    failed_login_count INT NOT NULL DEFAULT 0,
    locked_until TIMESTAMP NULL,
    last_login_at TIMESTAMP NULL,
    password_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_app_user_username UNIQUE (username),
    CONSTRAINT fk_app_user_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (tenant_id)
);
CREATE INDEX idx_app_user_tenant ON app_user (tenant_id);

CREATE TABLE user_login (
    login_id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INT NOT NULL,
    tenant_id INT NOT NULL,
    login_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    logout_at TIMESTAMP NULL,
    logout_reason TEXT NULL,
    expires_at TIMESTAMP NOT NULL,
    ip TEXT NULL,
    user_agent TEXT NULL,
    CONSTRAINT fk_user_login_user FOREIGN KEY (user_id) REFERENCES app_user (user_id)
);
CREATE INDEX idx_login_user ON user_login (user_id);
CREATE INDEX idx_login_time ON user_login (login_at);

CREATE TABLE audit_log (
    audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INT NULL,
    user_id INT NULL,
    action TEXT NOT NULL,
    entity TEXT NULL,
    entity_id TEXT NULL,
    old_values TEXT NULL,
    new_values TEXT NULL,
    ip TEXT NULL,
    user_agent TEXT NULL,
    request_id TEXT NULL,
    source TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_audit_source UNIQUE (source)
);
CREATE INDEX idx_audit_tenant_time ON audit_log (tenant_id, created_at);
CREATE INDEX idx_audit_user ON audit_log (user_id);
CREATE INDEX idx_audit_action ON audit_log (action);

CREATE TABLE user_query (
    query_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INT NOT NULL,
    user_id INT NULL,
    query_type TEXT NOT NULL,
    filters TEXT NULL,
    elapsed_ms INT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_query_user ON user_query (user_id);
CREATE INDEX idx_query_time ON user_query (created_at);

CREATE TABLE widget_catalog (
    widget_id INTEGER PRIMARY KEY AUTOINCREMENT,
    widget_name TEXT NOT NULL,
    widget_type TEXT NOT NULL,
    class_name TEXT NOT NULL,
    source_type TEXT NOT NULL DEFAULT 'internal',
    required_params TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE dashboard_template (
    template_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INT NOT NULL,
    role_access TEXT NOT NULL,
    layout_config TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_template_tenant_role UNIQUE (tenant_id, role_access)
);

CREATE TABLE api_key (
    api_key_id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INT NOT NULL,
    name TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    rate_limit_per_minute INT NULL,
    created_by INT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL,
    revoked_at TIMESTAMP NULL,
    CONSTRAINT uq_api_key_hash UNIQUE (key_hash)
);
CREATE INDEX idx_api_key_tenant ON api_key (tenant_id);

-- Refresh tokens: stored hashed, single use. A used one presented again
-- revokes its whole session (reuse detection).
CREATE TABLE refresh_token (
    token_hash TEXT NOT NULL PRIMARY KEY,
    login_id INTEGER NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP NULL,
    CONSTRAINT fk_refresh_login FOREIGN KEY (login_id) REFERENCES user_login (login_id)
);
CREATE INDEX idx_refresh_login ON refresh_token (login_id);

-- Leases that let one server instance at a time run a background job.
CREATE TABLE job_lease (
    name TEXT NOT NULL PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
