CREATE TABLE failure (
    failure_id INTEGER PRIMARY KEY AUTOINCREMENT,
    type_failure TEXT NOT NULL,
    description TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Breakdown reasons without children go back to being failure types, with their ids.
INSERT INTO failure (failure_id, type_failure, description, created_at, updated_at)
SELECT r.reason_id, r.name_es, r.description, r.created_at, r.updated_at FROM downtime_reason r
WHERE r.loss_class = 'breakdown' AND NOT EXISTS (SELECT 1 FROM downtime_reason k WHERE k.parent_id = r.reason_id);
DROP TABLE downtime_reason;
