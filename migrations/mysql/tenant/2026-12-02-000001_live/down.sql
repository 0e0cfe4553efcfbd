DROP TABLE live_cursor;
DROP TABLE line_live_state;
DROP TABLE alert;
DROP TABLE alert_rule;
