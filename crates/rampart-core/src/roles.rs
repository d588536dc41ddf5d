//! Global roles (per tenant) and project roles, and what each may do to a table.

use serde::{Deserialize, Serialize};

/// A user's role in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRole {
    Member,
    Admin,
    Owner,
}

impl GlobalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Tenant owners and admins administer every project of their tenant.
    pub fn administers_projects(self) -> bool {
        self >= Self::Admin
    }

    /// Which global roles this role may grant or revoke: owners any, admins only members.
    pub fn may_assign(self, target: GlobalRole) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => target == Self::Member,
            Self::Member => false,
        }
    }
}

/// A user's role in one project. Ordered from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl ProjectRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "editor" => Some(Self::Editor),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Whether this role may perform `action`.
    pub fn allows(self, action: TableAction) -> bool {
        let needed = match action {
            TableAction::ReadRecords => Self::Viewer,
            TableAction::CreateRecords
            | TableAction::UpdateRecords
            | TableAction::DeleteRecords => Self::Editor,
            TableAction::ManageSchema | TableAction::ManageMembers => Self::Admin,
            TableAction::DeleteProject => Self::Owner,
        };
        self >= needed
    }
}

/// What a caller wants to do within a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableAction {
    ReadRecords,
    CreateRecords,
    UpdateRecords,
    DeleteRecords,
    /// Create, rename, change and delete tables and fields; rename the project.
    ManageSchema,
    ManageMembers,
    DeleteProject,
}

impl TableAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadRecords => "read_records",
            Self::CreateRecords => "create_records",
            Self::UpdateRecords => "update_records",
            Self::DeleteRecords => "delete_records",
            Self::ManageSchema => "manage_schema",
            Self::ManageMembers => "manage_members",
            Self::DeleteProject => "delete_project",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_roles_are_cumulative() {
        use TableAction::*;
        assert!(ProjectRole::Viewer.allows(ReadRecords));
        assert!(!ProjectRole::Viewer.allows(UpdateRecords));
        assert!(ProjectRole::Editor.allows(DeleteRecords));
        assert!(!ProjectRole::Editor.allows(ManageSchema));
        assert!(ProjectRole::Admin.allows(ManageMembers));
        assert!(!ProjectRole::Admin.allows(DeleteProject));
        assert!(ProjectRole::Owner.allows(DeleteProject));
    }

    #[test]
    fn admins_may_only_assign_members() {
        assert!(GlobalRole::Admin.may_assign(GlobalRole::Member));
        assert!(!GlobalRole::Admin.may_assign(GlobalRole::Admin));
        assert!(GlobalRole::Owner.may_assign(GlobalRole::Owner));
        assert!(!GlobalRole::Member.may_assign(GlobalRole::Member));
    }
}
