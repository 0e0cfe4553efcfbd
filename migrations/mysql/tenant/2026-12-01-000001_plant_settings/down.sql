DROP TABLE plant_settings;
