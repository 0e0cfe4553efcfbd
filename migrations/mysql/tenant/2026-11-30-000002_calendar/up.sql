-- Planned stops (semantics §10). Breaks inside every occurrence of a shift:
-- a JSON array of {"start_time": "HH:MM:SS", "end_time": "HH:MM:SS"} in
-- local wall-clock times, at most 8 of them; empty for existing shifts.
ALTER TABLE shift ADD COLUMN breaks VARCHAR(1000) NOT NULL DEFAULT '[]';
-- Seconds without output above which a gap is a micro-stop (up to the
-- downtime threshold). Existing lines get 30 s, or their downtime threshold
-- when that is lower, so that every line keeps micro <= downtime.
ALTER TABLE production_line ADD COLUMN micro_stop_threshold INT NOT NULL DEFAULT 30;
UPDATE production_line SET micro_stop_threshold = downtime_threshold WHERE downtime_threshold < 30;
-- Holidays and shutdowns: the local days start_date..end_date (both
-- included) are not planned on the lines listed in line_ids (a JSON array;
-- empty: every line).
CREATE TABLE calendar_entry (
    entry_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(120) NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    line_ids TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    KEY idx_calendar_start (start_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
