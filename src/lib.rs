//! Camet Analytics: a headless REST API that turns the detections of vision
//! sensors on production lines into exact KPIs (planned time, downtime, OEE)
//! and Chart.js-ready series.
//!
//! Module map, by domain:
//! - [`analytics`]: PURE KPI math (planned time, downtime, OEE, buckets); no I/O. It is
//!   the `camet-analytics` crate (`crates/camet-analytics`), re-exported here.
//! - [`cli`]: the `camet` command line (serve, migrate, tenant/user admin, openapi, demo).
//! - [`clock`]: now, truncated to microseconds for both backends.
//! - [`config`]: typed configuration from the environment, validated at start.
//! - [`error`]: the one error type of the crate and its problem+json mapping.
//! - [`db`]: connections (SQLite | MySQL), migrations, schema, per-line tables.
//! - [`tenants`]: tenant lifecycle (global row + its own database).
//! - [`auth`]: passwords, users.
//! - [`plant`]: plant configuration entities (lines, areas, products, shifts).
//! - [`reasons`]: the downtime reason tree (categories, reasons, loss classes; failure types are its breakdown reasons).
//! - [`demo`]: the demo plant and its synthetic detections.
//! - [`http`]: the poem + poem-openapi layer (routes, middleware, docs).
//! - [`rollup`]: per-minute/per-hour rollups of detections and exact reads over them.
//! - [`dashboard`]: filter and widget registries, layouts, the /dashboard/run orchestrator.
//! - [`jobs`]: background jobs (cache refresh, audit forwarding, partitions).
//! - [`server`]: binding, startup sequence and graceful shutdown.
//! - [`app`]: the shared application state handed to handlers.
//! - [`broker`]: the external data broker (external_apis.yml, shared HTTP client).
//! - [`backup`]: `camet backup` / `camet restore` of the embedded SQLite databases.
//! - [`progress`]: progress of long operations (the CLI draws it).
//! - [`live`]: line state now, the event stream, alert rules and firings.
//! - [`notify`]: outgoing deliveries: signed webhooks (subscriptions, queue,
//!   retries, SSRF guard, delivery log) and alert e-mail over SMTP.

pub use camet_analytics as analytics;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod detections;
pub mod error;
pub mod http;
pub mod jobs;
pub mod kpi;
pub mod live;
pub mod notify;
pub mod plant;
pub mod progress;
pub mod query;
pub mod query_log;
pub mod reasons;
pub mod rollup;
pub mod server;
pub mod synth;
pub mod tenants;

pub use error::{AppError, AppResult};
