-- Planned stops (semantics §10). Breaks inside every occurrence of a shift:
-- a JSON array of {"start_time": "HH:MM:SS", "end_time": "HH:MM:SS"} in
-- local wall-clock times, at most 8 of them; empty for existing shifts.
ALTER TABLE shift ADD COLUMN breaks TEXT NOT NULL DEFAULT '[]';
-- Seconds without output above which a gap is a micro-stop (up to the
-- downtime threshold). Existing lines get 30 s, or their downtime threshold
-- when that is lower, so that every line keeps micro <= downtime.
ALTER TABLE production_line ADD COLUMN micro_stop_threshold INT NOT NULL DEFAULT 30;
UPDATE production_line SET micro_stop_threshold = downtime_threshold WHERE downtime_threshold < 30;
-- Holidays and shutdowns: the local days start_date..end_date (both
-- included) are not planned on the lines listed in line_ids (a JSON array;
-- empty: every line). Dates are stored as text YYYY-MM-DD.
CREATE TABLE calendar_entry (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    line_ids TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX idx_calendar_start ON calendar_entry (start_date);
