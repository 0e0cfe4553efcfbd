-- The downtime reason tree (issue 14 item 2): per tenant, categories and
-- reasons with a code, names in Spanish and English, a colour and a loss
-- class. A category is a reason with children (parent_id NULL). The failure
-- types of the original design become breakdown reasons: one catalog, with
-- the same ids, so incidents keep pointing at them (incident.failure_id now
-- names a downtime_reason).
CREATE TABLE downtime_reason (
    reason_id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INT NULL REFERENCES downtime_reason (reason_id),
    code TEXT NOT NULL,
    name_es TEXT NOT NULL,
    name_en TEXT NOT NULL,
    description TEXT NULL,
    color TEXT NOT NULL,
    loss_class TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT uq_reason_code UNIQUE (code)
);
CREATE INDEX idx_reason_parent ON downtime_reason (parent_id);

-- Failure types first, keeping their ids (the tree's rows come after them).
INSERT INTO downtime_reason (reason_id, parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at)
SELECT failure_id, NULL, 'FAILURE-' || failure_id, type_failure, type_failure, description, '#dc2626', 'breakdown', 1, created_at, updated_at
FROM failure ORDER BY failure_id;

-- The default tree: categories, then their reasons.
INSERT INTO downtime_reason (parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at) VALUES
    (NULL, 'BREAKDOWN', 'Avería', 'Breakdown', NULL, '#dc2626', 'breakdown', 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')),
    (NULL, 'SETUP', 'Preparación', 'Setup', NULL, '#f59e0b', 'setup', 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')),
    (NULL, 'MINOR', 'Parada menor', 'Minor stop', NULL, '#eab308', 'minor_stop', 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')),
    (NULL, 'PLANNED', 'Parada planificada', 'Planned stop', NULL, '#2563eb', 'planned', 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')),
    (NULL, 'UNASSIGNED', 'Sin asignar', 'Unassigned', NULL, '#9ca3af', 'unassigned', 1, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'));
INSERT INTO downtime_reason (parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at)
SELECT reason_id, 'BRK-MECH', 'Avería mecánica', 'Mechanical failure', NULL, '#ef4444', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'BREAKDOWN'
UNION ALL SELECT reason_id, 'BRK-ELEC', 'Avería eléctrica', 'Electrical failure', NULL, '#b91c1c', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'BREAKDOWN'
UNION ALL SELECT reason_id, 'BRK-JAM', 'Atasco', 'Jam', NULL, '#f87171', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'BREAKDOWN'
UNION ALL SELECT reason_id, 'BRK-CONTROL', 'Fallo de sensor o control', 'Sensor or control failure', NULL, '#991b1b', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'BREAKDOWN';
INSERT INTO downtime_reason (parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at)
SELECT reason_id, 'SET-CHANGEOVER', 'Cambio de producto', 'Changeover', NULL, '#d97706', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'SETUP'
UNION ALL SELECT reason_id, 'SET-ADJUST', 'Ajuste', 'Adjustment', NULL, '#fbbf24', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'SETUP';
INSERT INTO downtime_reason (parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at)
SELECT reason_id, 'MIN-BLOCKED', 'Bloqueo o falta de material', 'Blocked or starved', NULL, '#ca8a04', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'MINOR'
UNION ALL SELECT reason_id, 'MIN-CLEAN', 'Limpieza breve', 'Quick clean-up', NULL, '#facc15', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'MINOR';
INSERT INTO downtime_reason (parent_id, code, name_es, name_en, description, color, loss_class, is_active, created_at, updated_at)
SELECT reason_id, 'PLN-BREAK', 'Descanso', 'Break', NULL, '#60a5fa', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'PLANNED'
UNION ALL SELECT reason_id, 'PLN-MAINT', 'Mantenimiento planificado', 'Planned maintenance', NULL, '#1d4ed8', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'PLANNED'
UNION ALL SELECT reason_id, 'PLN-NOORDERS', 'Sin pedidos', 'No orders', NULL, '#93c5fd', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'PLANNED'
UNION ALL SELECT reason_id, 'PLN-MEETING', 'Reunión', 'Meeting', NULL, '#3b82f6', loss_class, 1, created_at, created_at FROM downtime_reason WHERE code = 'PLANNED';

-- Carried-over failure types sit under the breakdown category.
UPDATE downtime_reason SET parent_id = (SELECT b.reason_id FROM downtime_reason b WHERE b.code = 'BREAKDOWN')
WHERE code LIKE 'FAILURE-%';

-- One catalog: /production/failures is now a view over breakdown reasons.
DROP TABLE failure;
