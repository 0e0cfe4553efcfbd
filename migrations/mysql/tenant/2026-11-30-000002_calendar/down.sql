DROP TABLE calendar_entry;
ALTER TABLE production_line DROP COLUMN micro_stop_threshold;
ALTER TABLE shift DROP COLUMN breaks;
