-- Per line: the instant before which the rollups (detection_minute_<id>,
-- detection_hour_<id>) include rows written straight into the raw table.
-- Queries read whole rollup units before it and raw rows after it.
CREATE TABLE rollup_watermark (
    line_id INT NOT NULL PRIMARY KEY,
    watermark TIMESTAMP NOT NULL,
    refreshed_at TIMESTAMP NOT NULL
);
