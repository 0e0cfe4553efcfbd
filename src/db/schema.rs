//! Diesel table definitions, identical for both backends. Column SQL types
//! are the ones both dialects support; exact decimals use
//! [`ExactDecimal`](crate::db::decimal::ExactDecimal). Per-line tables have
//! dynamic names and are not declared here (see [`line_tables`](crate::db::line_tables)).

/// Tables of the global database.
pub mod global {
    diesel::table! {
        /// One row per customer plant (tenant).
        tenant (tenant_id) {
            tenant_id -> Integer,
            company_name -> Text,
            timezone -> Text,
            is_active -> Bool,
            config_tenant -> Nullable<Text>,
            asociated_since -> Timestamp,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Users; `username` is unique across tenants because login names only it.
        app_user (user_id) {
            user_id -> Integer,
            tenant_id -> Integer,
            username -> Text,
            email -> Text,
            password_hash -> Text,
            role -> Text,
            permissions -> Nullable<Text>,
            is_active -> Bool,
            failed_login_count -> Integer,
            locked_until -> Nullable<Timestamp>,
            last_login_at -> Nullable<Timestamp>,
            password_changed_at -> Timestamp,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Sessions.
        user_login (login_id) {
            login_id -> BigInt,
            user_id -> Integer,
            tenant_id -> Integer,
            login_at -> Timestamp,
            last_seen_at -> Timestamp,
            logout_at -> Nullable<Timestamp>,
            logout_reason -> Nullable<Text>,
            expires_at -> Timestamp,
            ip -> Nullable<Text>,
            user_agent -> Nullable<Text>,
        }
    }

    diesel::table! {
        /// Every mutating request and auth event.
        audit_log (audit_id) {
            audit_id -> BigInt,
            tenant_id -> Nullable<Integer>,
            user_id -> Nullable<Integer>,
            action -> Text,
            entity -> Nullable<Text>,
            entity_id -> Nullable<Text>,
            old_values -> Nullable<Text>,
            new_values -> Nullable<Text>,
            ip -> Nullable<Text>,
            user_agent -> Nullable<Text>,
            request_id -> Nullable<Text>,
            source -> Nullable<Text>,
            created_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Every KPI or data request (who, filters, time taken).
        user_query (query_id) {
            query_id -> BigInt,
            tenant_id -> Integer,
            user_id -> Nullable<Integer>,
            query_type -> Text,
            filters -> Nullable<Text>,
            elapsed_ms -> Integer,
            created_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Widget types the server knows, with their parameter schemas.
        widget_catalog (widget_id) {
            widget_id -> Integer,
            widget_name -> Text,
            widget_type -> Text,
            class_name -> Text,
            source_type -> Text,
            required_params -> Text,
            created_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Per-tenant dashboard layout per role.
        dashboard_template (template_id) {
            template_id -> Integer,
            tenant_id -> Integer,
            role_access -> Text,
            layout_config -> Text,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// API keys of machine clients (stored hashed).
        api_key (api_key_id) {
            api_key_id -> Integer,
            tenant_id -> Integer,
            name -> Text,
            key_prefix -> Text,
            key_hash -> Text,
            role -> Text,
            rate_limit_per_minute -> Nullable<Integer>,
            created_by -> Nullable<Integer>,
            created_at -> Timestamp,
            last_used_at -> Nullable<Timestamp>,
            revoked_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        /// Refresh tokens (hashed, single use).
        refresh_token (token_hash) {
            token_hash -> Text,
            login_id -> BigInt,
            issued_at -> Timestamp,
            used_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        /// Job leases: one instance at a time runs a job.
        job_lease (name) {
            name -> Text,
            holder -> Text,
            expires_at -> Timestamp,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(
        tenant,
        app_user,
        user_login,
        refresh_token,
        api_key,
        audit_log,
        user_query,
        dashboard_template,
        widget_catalog
    );
}

/// Tables of each tenant database.
pub mod tenant {
    use crate::db::decimal::ExactDecimal;

    diesel::table! {
        use diesel::sql_types::*;
        use super::ExactDecimal;
        /// Production lines.
        production_line (line_id) {
            line_id -> Integer,
            line_name -> Text,
            line_code -> Text,
            is_active -> Bool,
            availability -> Nullable<ExactDecimal>,
            performance -> Nullable<ExactDecimal>,
            downtime_threshold -> Integer,
            created_at -> Timestamp,
            updated_at -> Timestamp,
            deleted_at -> Nullable<Timestamp>,
            micro_stop_threshold -> Integer,
        }
    }

    diesel::table! {
        /// Areas of a line where a sensor counts units.
        area (area_id) {
            area_id -> Integer,
            line_id -> Integer,
            area_name -> Text,
            area_type -> Text,
            area_order -> Integer,
            coord_x1 -> Nullable<Integer>,
            coord_y1 -> Nullable<Integer>,
            coord_x2 -> Nullable<Integer>,
            coord_y2 -> Nullable<Integer>,
            is_active -> Bool,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        use diesel::sql_types::*;
        use super::ExactDecimal;
        /// Products.
        product (product_id) {
            product_id -> Integer,
            product_name -> Text,
            product_code -> Text,
            product_weight -> Nullable<ExactDecimal>,
            product_color -> Nullable<Text>,
            production_std -> Nullable<ExactDecimal>,
            product_per_batch -> Nullable<Integer>,
            is_active -> Bool,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Shifts; `days_implemented` and `line_ids` are JSON arrays.
        shift (shift_id) {
            shift_id -> Integer,
            shift_name -> Text,
            description -> Nullable<Text>,
            shift_status -> Bool,
            days_implemented -> Text,
            start_time -> Time,
            end_time -> Time,
            is_overnight -> Bool,
            line_ids -> Nullable<Text>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
            breaks -> Text,
        }
    }

    diesel::table! {
        /// Holidays and shutdowns: local days not planned on some or all lines.
        calendar_entry (entry_id) {
            entry_id -> Integer,
            name -> Text,
            start_date -> Date,
            end_date -> Date,
            line_ids -> Text,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Dashboard filters of the tenant (registered filter types).
        filter (filter_id) {
            filter_id -> Integer,
            filter_name -> Text,
            class_name -> Text,
            description -> Nullable<Text>,
            filter_status -> Bool,
            default_value -> Nullable<Text>,
            additional_filter -> Nullable<Text>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Downtime reasons and their categories (a category is a reason
        /// with children); the failure types of the original design are its
        /// `breakdown` reasons.
        downtime_reason (reason_id) {
            reason_id -> Integer,
            parent_id -> Nullable<Integer>,
            code -> Text,
            name_es -> Text,
            name_en -> Text,
            description -> Nullable<Text>,
            color -> Text,
            loss_class -> Text,
            is_active -> Bool,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Incidents on lines.
        incident (incident_id) {
            incident_id -> Integer,
            /// A `breakdown` reason (the failure type).
            failure_id -> Nullable<Integer>,
            line_id -> Nullable<Integer>,
            description -> Nullable<Text>,
            reported_at -> Timestamp,
            resolved_at -> Nullable<Timestamp>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Audit entries waiting to be forwarded to the global audit log.
        audit_outbox (outbox_id) {
            outbox_id -> BigInt,
            entry -> Text,
            created_at -> Timestamp,
        }
    }

    diesel::table! {
        /// The tenant's configuration version, bumped on every configuration write.
        config_version (id) {
            id -> Integer,
            version -> BigInt,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Spans of a line's history whose persisted downtime events wait
        /// for the downtime job (`kpi::pending`).
        downtime_pending (pending_id) {
            pending_id -> BigInt,
            line_id -> Integer,
            span_start -> Timestamp,
            span_end -> Timestamp,
        }
    }

    diesel::table! {
        /// The tenant's analytics rules (one row, id 1).
        plant_settings (id) {
            id -> Integer,
            planned_stops_reduce_planned_time -> Bool,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Per line: rollups include direct writes before `watermark`.
        rollup_watermark (line_id) {
            line_id -> Integer,
            watermark -> Timestamp,
            refreshed_at -> Timestamp,
            gap_floor_us -> Nullable<BigInt>,
            provisional -> Bool,
        }
    }

    diesel::table! {
        /// Alert rules of the tenant (issue 15).
        alert_rule (rule_id) {
            rule_id -> Integer,
            name -> Text,
            kind -> Text,
            line_id -> Nullable<Integer>,
            threshold_seconds -> Nullable<Integer>,
            target_bp -> Nullable<Integer>,
            window_seconds -> Nullable<Integer>,
            emails -> Nullable<Text>,
            is_active -> Bool,
            created_at -> Timestamp,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Firings of alert rules.
        alert (alert_id) {
            alert_id -> BigInt,
            rule_id -> Integer,
            line_id -> Integer,
            kind -> Text,
            status -> Text,
            active -> Bool,
            message -> Text,
            value_milli -> Nullable<BigInt>,
            fire_key -> Text,
            fired_at -> Timestamp,
            acknowledged_at -> Nullable<Timestamp>,
            acknowledged_by -> Nullable<Integer>,
            resolved_at -> Nullable<Timestamp>,
            resolved_by -> Nullable<Integer>,
        }
    }

    diesel::table! {
        /// The state last published per line.
        line_live_state (line_id) {
            line_id -> Integer,
            state -> Text,
            since -> Nullable<Timestamp>,
            updated_at -> Timestamp,
        }
    }

    diesel::table! {
        /// Up to when a periodic live check has run.
        live_cursor (name) {
            name -> Text,
            at -> Timestamp,
        }
    }

    // ---- outgoing deliveries (crate::notify) ----------------------------

    diesel::table! {
        /// Webhook subscriptions (`events`: JSON array of event type names).
        webhooks (webhook_id) {
            webhook_id -> Integer,
            url -> Text,
            events -> Text,
            /// `whsec_` + base64 of the signing key; never listed.
            secret -> Text,
            is_active -> Bool,
            consecutive_failures -> Integer,
            created_at -> Timestamp,
            updated_at -> Timestamp,
            disabled_at -> Nullable<Timestamp>,
            disabled_reason -> Nullable<Text>,
        }
    }

    diesel::table! {
        /// One message for one webhook: the queue and the delivery log.
        webhook_deliveries (delivery_id) {
            delivery_id -> BigInt,
            webhook_id -> Integer,
            /// The `webhook-id` header, the same on every attempt.
            message_id -> Text,
            event_type -> Text,
            payload -> Text,
            /// `pending`, `delivered` or `failed`.
            status -> Text,
            attempts -> Integer,
            next_attempt_at -> Timestamp,
            last_status_code -> Nullable<Integer>,
            last_error -> Nullable<Text>,
            latency_ms -> Nullable<BigInt>,
            created_at -> Timestamp,
            updated_at -> Timestamp,
            delivered_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        /// E-mail waiting to be sent (`recipients`: JSON array).
        mail_outbox (mail_id) {
            mail_id -> BigInt,
            recipients -> Text,
            subject -> Text,
            text_body -> Text,
            html_body -> Text,
            /// `pending`, `sent` or `failed`.
            status -> Text,
            attempts -> Integer,
            next_attempt_at -> Timestamp,
            last_error -> Nullable<Text>,
            created_at -> Timestamp,
            sent_at -> Nullable<Timestamp>,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(
        production_line,
        area,
        product,
        shift,
        calendar_entry,
        filter,
        downtime_reason,
        incident
    );
}
