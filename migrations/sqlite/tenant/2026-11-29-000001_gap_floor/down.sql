ALTER TABLE rollup_watermark DROP COLUMN provisional;
ALTER TABLE rollup_watermark DROP COLUMN gap_floor_us;
