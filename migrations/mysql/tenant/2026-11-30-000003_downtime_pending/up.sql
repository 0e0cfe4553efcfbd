-- Spans of a line's history whose persisted downtime events must be
-- recomputed: ingest, the watermark job's folding of direct writes and a
-- rollup refresh each add the span their rows cover; the downtime job
-- recomputes those spans (merged) and deletes exactly the rows it read.
CREATE TABLE downtime_pending (
    pending_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    line_id INT NOT NULL,
    span_start DATETIME(6) NOT NULL,
    span_end DATETIME(6) NOT NULL,
    INDEX downtime_pending_line (line_id, span_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- The history a deployment already holds: every existing line's whole
-- history is pending once (the job clips it to the line's first detection
-- and now, and works through it a bounded number of days per run).
INSERT INTO downtime_pending (line_id, span_start, span_end)
SELECT line_id, '2000-01-01 00:00:00', '2100-01-01 00:00:00' FROM production_line WHERE deleted_at IS NULL;
