DROP TABLE config_version;
DROP TABLE incident;
DROP TABLE failure;
DROP TABLE filter;
DROP TABLE shift;
DROP TABLE product;
DROP TABLE area;
DROP TABLE production_line;
