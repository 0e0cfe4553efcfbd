DROP TABLE downtime_pending;
