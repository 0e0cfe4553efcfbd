-- Spans of a line's history whose persisted downtime events must be
-- recomputed: ingest, the watermark job's folding of direct writes and a
-- rollup refresh each add the span their rows cover; the downtime job
-- recomputes those spans (merged) and deletes exactly the rows it read.
CREATE TABLE downtime_pending (
    pending_id INTEGER PRIMARY KEY AUTOINCREMENT,
    line_id INT NOT NULL,
    span_start TIMESTAMP NOT NULL,
    span_end TIMESTAMP NOT NULL
);
CREATE INDEX downtime_pending_line ON downtime_pending (line_id, span_start);
-- The history a deployment already holds: every existing line's whole
-- history is pending once (the job clips it to the line's first detection
-- and now, and works through it a bounded number of days per run).
INSERT INTO downtime_pending (line_id, span_start, span_end)
SELECT line_id, '2000-01-01 00:00:00', '2100-01-01 00:00:00' FROM production_line WHERE deleted_at IS NULL;
