-- Usernames are unique within a tenant, not across the installation, so that
-- creating a user reveals nothing about other tenants (issue 11 item 8).
-- SQLite cannot drop a constraint: the table is rebuilt (the documented
-- twelve-step procedure), with foreign keys off outside any transaction.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE app_user_rebuilt (
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
    CONSTRAINT uq_app_user_tenant_username UNIQUE (tenant_id, username),
    CONSTRAINT fk_app_user_tenant FOREIGN KEY (tenant_id) REFERENCES tenant (tenant_id)
);
INSERT INTO app_user_rebuilt
    SELECT user_id, tenant_id, username, email, password_hash, role, permissions, is_active,
           failed_login_count, locked_until, last_login_at, password_changed_at, created_at, updated_at
    FROM app_user;
DROP TABLE app_user;
ALTER TABLE app_user_rebuilt RENAME TO app_user;
CREATE INDEX idx_app_user_tenant ON app_user (tenant_id);
CREATE INDEX idx_app_user_username ON app_user (username);
COMMIT;
PRAGMA foreign_keys = ON;
