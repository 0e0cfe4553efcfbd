//! `user_query`: who asked for which KPI or data, with which filters, and how
//! long it took (as the original design asks). Recording is best effort: a
//! failure to record is logged and never fails the answer the user waits for.

use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;

use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::db::schema::global::user_query;

/// Records one query.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    query_type: &str,
    filters: &serde_json::Value,
    elapsed: std::time::Duration,
) {
    let result = async {
        let mut conn = state.databases.global().get().await?;
        let elapsed_ms = i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX);
        crate::with_conn!(&mut conn, |c| diesel::insert_into(user_query::table)
            .values((
                user_query::tenant_id.eq(principal.tenant_id),
                user_query::user_id.eq(principal.user_id),
                user_query::query_type.eq(query_type),
                user_query::filters.eq(Some(filters.to_string())),
                user_query::elapsed_ms.eq(elapsed_ms),
                user_query::created_at.eq(crate::clock::now_naive()),
            ))
            .execute(c)
            .await)?;
        Ok::<_, crate::AppError>(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, query_type, "could not record the query in user_query");
    }
}

/// Runs `work` and, when it succeeds, records it with its time taken (failed
/// requests are not queries anyone waited for an answer to).
pub async fn timed<T>(
    state: &AppState,
    principal: &Principal,
    query_type: &str,
    filters: &impl serde::Serialize,
    work: impl std::future::Future<Output = crate::AppResult<T>>,
) -> crate::AppResult<T> {
    let started = std::time::Instant::now();
    let result = work.await;
    if result.is_ok() {
        let json = serde_json::to_value(filters).unwrap_or_default();
        record(state, principal, query_type, &json, started.elapsed()).await;
    }
    result
}
