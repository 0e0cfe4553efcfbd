//! The integration tests: one binary, a module per resource, so the suite links once.
//! Each test starts its own server over fresh databases (see `common`).

mod access_control;
mod architecture;
mod audit;
mod auth;
mod backup;
mod broker;
mod broker_limits;
mod claims;
mod cli;
mod common;
mod crash;
mod dashboard;
mod db_faults;
mod demo;
mod detections;
mod exports;
mod hardening_auth;
mod hardening_input;
mod http_basics;
mod isolation;
mod kpi;
mod languages;
mod metrics;
mod migrations;
mod openapi;
mod production;
mod query;
mod query_property;
mod resilience;
mod rollups;
mod shared_limits;
mod tenant;
mod tour;
mod transport;
mod users;
