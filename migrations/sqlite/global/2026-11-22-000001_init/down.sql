DROP TABLE api_key;
DROP TABLE dashboard_template;
DROP TABLE widget_catalog;
DROP TABLE user_query;
DROP TABLE audit_log;
DROP TABLE user_login;
DROP TABLE app_user;
DROP TABLE tenant;
