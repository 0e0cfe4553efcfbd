-- Usernames are unique within a tenant, not across the installation, so that
-- creating a user reveals nothing about other tenants (issue 11 item 8).
-- Logins name their tenant when a username exists in more than one.
ALTER TABLE app_user
    DROP INDEX uq_app_user_username,
    ADD UNIQUE KEY uq_app_user_tenant_username (tenant_id, username),
    ADD KEY idx_app_user_username (username);
