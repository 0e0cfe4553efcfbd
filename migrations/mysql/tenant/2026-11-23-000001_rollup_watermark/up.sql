-- Per line: the instant before which the rollups (detection_minute_<id>,
-- detection_hour_<id>) include rows written straight into the raw table.
-- Queries read whole rollup units before it and raw rows after it.
CREATE TABLE rollup_watermark (
    line_id INT NOT NULL PRIMARY KEY,
    watermark DATETIME(6) NOT NULL,
    refreshed_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
