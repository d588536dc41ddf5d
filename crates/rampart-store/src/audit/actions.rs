//! The catalogue of what the audit chain records: every action, its stable name
//! (`area.verb`, stored in the entry and hashed with it, so a name is never changed once
//! released) and one line saying what it means. An entry can only be made for an action
//! listed here; `GET /api/v1/audit/actions` serves the list (the audit viewer's filters).

macro_rules! catalogue {
    ($($variant:ident = $name:literal: $meaning:literal,)*) => {
        /// One kind of audited action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the catalogue's order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The stored name, `area.verb`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// What an entry of this action says happened.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Action::$variant => $meaning,)*
                }
            }
        }
    };
}

catalogue! {
    // Sign-in and sessions.
    AuthSessionStart = "auth.session_start": "a user signed in (password, second factor, passkey) and a session began",
    AuthSessionEnd = "auth.session_end": "a user signed out",
    AuthSessionRevoke = "auth.session_revoke": "a user ended one of their sessions",
    AuthSessionsRevokeOthers = "auth.sessions_revoke_others": "a user ended every session but the current one",
    AuthSessionsRevokeAll = "auth.sessions_revoke_all": "every session of a user was ended (password change, disabling, reset)",
    AuthFailure = "auth.failure": "a sign-in, second factor or re-authentication attempt failed",
    AuthReauthenticate = "auth.reauthenticate": "a session gave its password again for sensitive changes",
    AuthPasswordSet = "auth.password_set": "a user's password was set or changed",
    AuthTotpCode = "auth.totp_code": "a second factor was passed with an authenticator code",
    AuthRecoveryCode = "auth.recovery_code": "a second factor was passed with a recovery code (now used up)",
    // Second factors.
    FactorTotpBegin = "factor.totp_begin": "a user started enrolling an authenticator app",
    FactorTotpEnable = "factor.totp_enable": "a user's authenticator app was confirmed and turned on",
    FactorTotpRemove = "factor.totp_remove": "a user's authenticator app was removed",
    FactorRecoveryCodesIssued = "factor.recovery_codes_issued": "new recovery codes replaced a user's old ones",
    FactorPasskeyAdd = "factor.passkey_add": "a passkey was registered",
    FactorPasskeyRename = "factor.passkey_rename": "a passkey was renamed",
    FactorPasskeyRemove = "factor.passkey_remove": "a passkey was removed",
    FactorPasskeysRemoveAll = "factor.passkeys_remove_all": "every passkey of a user was removed (operator reset)",
    // People.
    TenantSetupTokenUsed = "tenant.setup_token_used": "the first owner was created with the one-time setup token",
    UserCreate = "user.create": "a user account was created (by an admin, an invitation or a sign-up)",
    UserUpdate = "user.update": "a user's role, name or disabled state changed",
    UserDelete = "user.delete": "a user was deleted and their records handed to a successor",
    UserEmailChange = "user.email_change": "a user's email address changed",
    UserAttributes = "user.attributes": "a user's custom attributes changed",
    UserAttributeDefine = "user_attribute.define": "the tenant's custom user attributes were defined",
    GroupCreate = "group.create": "a group was created",
    GroupRename = "group.rename": "a group was renamed",
    GroupDelete = "group.delete": "a group was deleted",
    GroupAddMember = "group.add_member": "a user joined a group",
    GroupRemoveMember = "group.remove_member": "a user left a group",
    // API tokens.
    TokenCreate = "token.create": "an API token was issued",
    TokenRotate = "token.rotate": "an API token was rotated (the old one works until its grace ends)",
    TokenRevoke = "token.revoke": "an API token was revoked",
    TokenRevokeAll = "token.revoke_all": "every API token of a user was revoked",
    // Settings and identity providers.
    SettingsChange = "settings.change": "a tenant setting changed (security, sign-up, network, budgets)",
    IdentityProviderCreate = "identity_provider.create": "a single sign-on provider was added",
    IdentityProviderUpdate = "identity_provider.update": "a single sign-on provider was changed (a new client secret is named, never shown)",
    IdentityProviderDelete = "identity_provider.delete": "a single sign-on provider was removed",
    // Projects and access.
    ProjectCreate = "project.create": "a project was created",
    ProjectRename = "project.rename": "a project was renamed",
    ProjectDelete = "project.delete": "a project was deleted with its tables and records",
    ProjectSetMember = "project.set_member": "a user's project role was set",
    ProjectRemoveMember = "project.remove_member": "a user's project role was taken away",
    ProjectRequireSecondFactor = "project.require_second_factor": "a project's second-factor requirement changed",
    PermissionSetCreate = "permission_set.create": "a permission set was created",
    PermissionSetUpdate = "permission_set.update": "a permission set's grants or rules changed",
    PermissionSetDelete = "permission_set.delete": "a permission set was deleted",
    PermissionSetAssignUser = "permission_set.assign_user": "a user was given a permission set",
    PermissionSetUnassignUser = "permission_set.unassign_user": "a permission set was taken from a user",
    PermissionSetAssignGroup = "permission_set.assign_group": "a group was given a permission set",
    PermissionSetUnassignGroup = "permission_set.unassign_group": "a permission set was taken from a group",
    AccessSimulate = "access.simulate": "a builder listed a table as another user sees it",
    AccessExplain = "access.explain": "a builder asked why a user may or may not act on a record",
    SecretSet = "secret.set": "a project secret was set (its value is never recorded)",
    SecretDelete = "secret.delete": "a project secret was deleted",
    // Schema and records.
    SchemaTableCreate = "schema.table_create": "a table was created",
    SchemaTableRename = "schema.table_rename": "a table was renamed",
    SchemaTablePrimaryField = "schema.table_primary_field": "the field naming a table's records was chosen (or reset to the default)",
    SchemaTableDelete = "schema.table_delete": "a table was deleted with its records",
    SchemaFieldAdd = "schema.field_add": "a field was added to a table",
    SchemaFieldChange = "schema.field_change": "a field was renamed, retyped or its options changed",
    SchemaFieldDelete = "schema.field_delete": "a field was deleted with its values",
    RecordCreate = "record.create": "a record was created",
    RecordUpdate = "record.update": "a record's fields or owner changed",
    RecordDelete = "record.delete": "a record was deleted",
    RecordImport = "record.import": "an import created records (one entry per batch: the job, the records' ids and a SHA-256 of their values)",
    RecordExport = "record.export": "records of a table were exported as a file (format, filter, fields, how many)",
    // Keys and the chain itself.
    KeysKekRotate = "keys.kek_rotate": "the tenant's data keys were re-wrapped under a new key-encryption key",
    KeysDekRotate = "keys.dek_rotate": "the tenant got a new data key (and audit key)",
    KeysDekReseal = "keys.dek_reseal": "sealed values were re-sealed with the current data key",
    KeysDekPurge = "keys.dek_purge": "retired data keys no stored value needs were destroyed",
    KeysBlindIndexKeyKept = "keys.blind_index_key_kept": "a data key was kept for an encrypted field's blind index",
    AuditExport = "audit.export": "the audit trail was exported",
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn names_are_unique_area_dot_verb_and_every_action_says_what_it_means() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            let name = a.as_str();
            assert!(seen.insert(name), "{name} twice");
            let (area, verb) = name.split_once('.').unwrap_or_default();
            let word =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            assert!(word(area) && word(verb), "{name}");
            assert!(!a.meaning().is_empty(), "{name}");
        }
    }
}
