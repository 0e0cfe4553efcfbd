//! Dashboards: the filter and widget registries, the catalog and layouts,
//! and the orchestrator that runs a layout. Three rules from the original
//! design shape it:
//! 1. Registry: the database stores a filter's or widget's class name; the
//!    server looks it up ([`filters::lookup`], [`widgets::lookup`]).
//! 2. Data scoping: a widget declares what it needs and receives only that.
//! 3. Data broker: widgets never fetch; the [`orchestrator`] computes or
//!    fetches (through [`crate::broker`]) each distinct need once per run.

pub mod catalog;
pub mod filters;
pub mod i18n;
pub mod orchestrator;
pub mod widgets;
