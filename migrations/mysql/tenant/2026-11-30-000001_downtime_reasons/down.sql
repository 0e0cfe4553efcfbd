CREATE TABLE failure (
    failure_id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    type_failure VARCHAR(120) NOT NULL,
    description VARCHAR(500) NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Breakdown reasons without children go back to being failure types, with their ids.
INSERT INTO failure (failure_id, type_failure, description, created_at, updated_at)
SELECT r.reason_id, r.name_es, r.description, r.created_at, r.updated_at FROM downtime_reason r
WHERE r.loss_class = 'breakdown' AND NOT EXISTS (SELECT 1 FROM downtime_reason k WHERE k.parent_id = r.reason_id);
ALTER TABLE downtime_reason DROP FOREIGN KEY fk_reason_parent;
DROP TABLE downtime_reason;
