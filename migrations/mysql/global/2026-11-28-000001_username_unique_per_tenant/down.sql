-- Fails if a username now exists in more than one tenant.
ALTER TABLE app_user
    DROP INDEX idx_app_user_username,
    DROP INDEX uq_app_user_tenant_username,
    ADD UNIQUE KEY uq_app_user_username (username);
