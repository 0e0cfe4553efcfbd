//! `/api/v1/production/...` and `/api/v1/system/partitions`: the plant
//! configuration API, one file per resource. Reads of cached configuration
//! come from the metadata cache; writes go through [`crate::plant::service`].
//! Reading needs `read_data`, writing `manage_plant`, partitions
//! `manage_system`. This file holds what the resources share: pages, the 201
//! answer, not-found, timestamps.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{AppError, AppResult};

// Defined before the resource modules so that they can use them.

/// A list answer `$name` of `$item` views, with the two ways to build one.
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(poem_openapi::Object)]
        pub struct $name {
            /// Items of this page.
            pub items: Vec<$item>,
            /// Items matching in all.
            pub total: i64,
            /// Page size used.
            pub limit: i64,
            /// Offset used.
            pub offset: i64,
        }

        impl $name {
            /// The page `limit` and `offset` select from every matching row
            /// (held in memory, e.g. by the metadata cache).
            pub fn select<R: Clone>(rows: Vec<&R>, limit: i64, offset: i64) -> Self
            where
                $item: From<R>,
            {
                let total = rows.len() as i64;
                let items = rows
                    .into_iter()
                    .skip(offset.max(0) as usize)
                    .take(limit.max(0) as usize)
                    .cloned()
                    .map(<$item>::from)
                    .collect();
                $name {
                    items,
                    total,
                    limit,
                    offset,
                }
            }

            /// A page the database already cut, and how many rows match in all.
            pub fn of<R>(rows: Vec<R>, total: i64, limit: i64, offset: i64) -> Self
            where
                $item: From<R>,
            {
                $name {
                    items: rows.into_iter().map(<$item>::from).collect(),
                    total,
                    limit,
                    offset,
                }
            }
        }
    };
}

/// The 201 answer `$name` of a create operation returning a `$view`.
macro_rules! created_type {
    ($name:ident, $view:ty) => {
        /// Created.
        #[derive(poem_openapi::ApiResponse)]
        pub enum $name {
            /// Created.
            #[oai(status = 201)]
            Created(poem_openapi::payload::Json<$view>),
        }
    };
}

pub mod areas;
pub mod calendar;
pub mod failures;
pub mod filters;
pub mod incidents;
pub mod lines;
pub mod partitions;
pub mod products;
pub mod reasons;
pub mod shifts;

/// The plant APIs, in the order their operations appear in the document.
pub type PlantApis = (
    lines::LinesApi,
    areas::AreasApi,
    products::ProductsApi,
    shifts::ShiftsApi,
    calendar::CalendarApi,
    filters::FiltersApi,
    reasons::ReasonsApi,
    failures::FailuresApi,
    incidents::IncidentsApi,
    partitions::PartitionsApi,
);

/// [`PlantApis`], ready to combine.
pub fn apis() -> PlantApis {
    (
        lines::LinesApi,
        areas::AreasApi,
        products::ProductsApi,
        shifts::ShiftsApi,
        calendar::CalendarApi,
        filters::FiltersApi,
        reasons::ReasonsApi,
        failures::FailuresApi,
        incidents::IncidentsApi,
        partitions::PartitionsApi,
    )
}

/// The page size of a list when the client names none.
fn default_limit() -> i64 {
    100
}

/// `value`, or the 404 naming what was asked for.
fn found<T>(value: Option<T>, kind: &str, id: i32) -> AppResult<T> {
    value.ok_or_else(|| AppError::NotFound(format!("{kind} {id} not found")))
}

/// Rows store UTC wall time without a zone.
fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
