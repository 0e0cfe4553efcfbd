-- Tenant-wide rules of the analytics (one row, id 1), changed with the plant
-- configuration (same transaction as the config_version bump).
-- planned_stops_reduce_planned_time: stops whose reason has the loss class
-- `planned` leave the planned time P (ISO 22400), rather than count as
-- downtime.
CREATE TABLE plant_settings (
    id INTEGER NOT NULL PRIMARY KEY,
    planned_stops_reduce_planned_time BOOLEAN NOT NULL DEFAULT 1,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO plant_settings (id, planned_stops_reduce_planned_time, updated_at) VALUES (1, 1, CURRENT_TIMESTAMP);
