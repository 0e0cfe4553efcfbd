//! What each role may do, and the `permissions` JSON that grants or denies
//! named rights on top of the role. The one table of rights; route guards
//! ask [`Principal::require`](crate::auth::principal::Principal::require).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::auth::roles::Role;

/// A named right, as used in `permissions` (`{"grant": [...], "deny": [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Right {
    /// Read production data, KPIs and configuration.
    ReadData,
    /// Run dashboards and widgets.
    RunDashboards,
    /// Send detections (sensors, ingest).
    IngestDetections,
    /// Create, change and delete plant configuration.
    ManagePlant,
    /// Edit dashboards and see the widget catalog.
    ManageDashboards,
    /// Store per-role dashboard templates.
    ManageTemplates,
    /// Manage the tenant's users.
    ManageUsers,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Read the audit log.
    ReadAudit,
    /// Inspect and maintain storage (partitions).
    ManageSystem,
}

impl Right {
    /// Every right.
    pub const ALL: [Right; 10] = [
        Right::ReadData,
        Right::RunDashboards,
        Right::IngestDetections,
        Right::ManagePlant,
        Right::ManageDashboards,
        Right::ManageTemplates,
        Right::ManageUsers,
        Right::ManageApiKeys,
        Right::ReadAudit,
        Right::ManageSystem,
    ];
}

/// The rights a role has before `permissions` adjust them.
pub fn role_rights(role: Role) -> &'static [Right] {
    match role {
        Role::Admin => &Right::ALL,
        Role::Manager => &[
            Right::ReadData,
            Right::RunDashboards,
            Right::IngestDetections,
            Right::ManagePlant,
            Right::ManageDashboards,
        ],
        Role::Viewer => &[Right::ReadData, Right::RunDashboards],
    }
}

/// Fine-grained adjustments stored with a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Rights added to the role's.
    #[serde(default)]
    pub grant: BTreeSet<Right>,
    /// Rights removed (deny wins over grant).
    #[serde(default)]
    pub deny: BTreeSet<Right>,
}

impl Permissions {
    /// Parses stored JSON; `None`/empty means no adjustment. Unknown content
    /// is ignored (logged), never a failure of the request.
    pub fn from_stored(json: Option<&str>) -> Permissions {
        match json.map(str::trim).filter(|s| !s.is_empty() && *s != "null") {
            None => Permissions::default(),
            Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring malformed stored permissions");
                Permissions::default()
            }),
        }
    }

    /// The effective rights of `role` with these adjustments.
    pub fn effective(&self, role: Role) -> BTreeSet<Right> {
        role_rights(role)
            .iter()
            .copied()
            .chain(self.grant.iter().copied())
            .filter(|r| !self.deny.contains(r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_read_and_run_only() {
        let rights = Permissions::default().effective(Role::Viewer);
        assert_eq!(
            rights.into_iter().collect::<Vec<_>>(),
            [Right::ReadData, Right::RunDashboards]
        );
    }

    #[test]
    fn deny_wins_over_grant_and_role() {
        let p: Permissions =
            serde_json::from_str(r#"{"grant":["read_audit","manage_plant"],"deny":["manage_plant"]}"#).expect("json");
        let rights = p.effective(Role::Viewer);
        assert!(rights.contains(&Right::ReadAudit));
        assert!(!rights.contains(&Right::ManagePlant));
        let admin = Permissions::from_stored(Some(r#"{"deny":["manage_users"]}"#)).effective(Role::Admin);
        assert!(!admin.contains(&Right::ManageUsers));
    }

    #[test]
    fn malformed_permissions_adjust_nothing() {
        assert_eq!(Permissions::from_stored(Some("{not json")), Permissions::default());
        assert_eq!(Permissions::from_stored(None), Permissions::default());
    }
}
