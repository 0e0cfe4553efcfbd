//! `/api/v1/system/partitions`: the detection table partitions of each line
//! (admins, `manage_system`). Served under the System tag; it lives with the
//! plant because partitions follow the lines.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use crate::app::SharedState;
use crate::http::ApiTags;
use crate::http::caller::{Caller, ManageSystem};
use crate::http::problem::ApiError;
use crate::plant::partitions::{self, LinePartitions};

/// Storage administration.
pub struct PartitionsApi;

#[OpenApi(prefix_path = "/api/v1/system", tag = "ApiTags::System")]
impl PartitionsApi {
    /// Detection table partitions per line (admins). On SQLite tables are not partitioned.
    #[oai(path = "/partitions", method = "get")]
    async fn partitions(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageSystem>,
    ) -> Result<Json<Vec<LinePartitions>>, ApiError> {
        Ok(Json(partitions::list(&state.plant(), caller.tenant_id).await?))
    }
}
