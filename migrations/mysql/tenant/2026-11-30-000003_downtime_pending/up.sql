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
