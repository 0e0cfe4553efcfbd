-- Tenant-wide rules of the analytics (one row, id 1), changed with the plant
-- configuration (same transaction as the config_version bump).
-- planned_stops_reduce_planned_time: stops whose reason has the loss class
-- `planned` leave the planned time P (ISO 22400), rather than count as
-- downtime.
CREATE TABLE plant_settings (
    id INT NOT NULL PRIMARY KEY,
    planned_stops_reduce_planned_time BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO plant_settings (id, planned_stops_reduce_planned_time, updated_at) VALUES (1, TRUE, NOW(6));
