-- The floor (microseconds) of the line's stored gaps (detection_gap_<id>):
-- gaps longer than it between consecutive detections of an area are kept.
-- NULL: the gaps were never built; the watermark job rebuilds them (and
-- rebuilds them again whenever the configured floor changes).
ALTER TABLE rollup_watermark ADD COLUMN gap_floor_us BIGINT NULL;
-- Set when ingest gave a new line its first watermark (its rollups and gaps
-- hold every row it stored); the watermark job's next run checks that the
-- raw table holds nothing else before trusting that history.
ALTER TABLE rollup_watermark ADD COLUMN provisional BOOLEAN NOT NULL DEFAULT FALSE;
