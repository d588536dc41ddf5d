//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the one list of
//! endpoints that need no authentication.

use std::sync::OnceLock;

use axum::Router;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    access_review, account, audit, edge_settings, groups, identity, identity_providers, onboarding,
    passkeys, password_reset, permission_sets, projects, records, secrets, settings, tables,
    tokens, transfer, users,
};
use crate::state::AppState;

/// Endpoints reachable without a session or token (DESIGN.md section 7). Everything else
/// requires authentication; a test walks the document to prove it.
pub const PUBLIC_ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/setup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/login/second-factor"),
    ("post", "/api/v1/auth/login/second-factor/passkey-options"),
    ("post", "/api/v1/auth/passkey/options"),
    ("post", "/api/v1/auth/passkey"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/register/confirm"),
    ("post", "/api/v1/auth/email-change/confirm"),
    ("post", "/api/v1/invitations/accept"),
];

/// Declares every API route once: the router and the OpenAPI document are generated from
/// the same list, so neither can drift from the other.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        #[derive(OpenApi)]
        #[openapi(
            info(title = "Rampart API", version = "1", description = "Tenants' projects, tables, fields and records. Errors are RFC 9457 problem documents."),
            paths($($handler),*),
            components(schemas(crate::error::ProblemSchema, crate::error::FieldErrorSchema, crate::routes::records::RecordOut)),
            modifiers(&SecuritySchemes, &ProblemResponses),
            tags(
                (name = "identity", description = "Setup, sign-in and the current user"),
                (name = "account", description = "The caller's own password, sessions and second factors"),
                (name = "users", description = "Tenant administration of users and security settings"),
                (name = "tokens", description = "The caller's API tokens"),
                (name = "projects", description = "Projects and members"),
                (name = "tables", description = "Tables and fields"),
                (name = "permissions", description = "Permission sets: per-table operations, field access and record rules"),
                (name = "records", description = "Records"),
            )
        )]
        struct ApiDoc;

        /// Every API route.
        pub fn api_router() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    post "/api/v1/setup" => identity::setup,
    post "/api/v1/auth/login" => identity::login,
    post "/api/v1/auth/login/second-factor" => identity::login_second_factor,
    post "/api/v1/auth/login/second-factor/passkey-options" => passkeys::second_factor_options,
    post "/api/v1/auth/passkey/options" => passkeys::sign_in_options,
    post "/api/v1/auth/passkey" => passkeys::sign_in,
    post "/api/v1/auth/password-reset" => password_reset::request,
    post "/api/v1/auth/password-reset/confirm" => password_reset::confirm,
    post "/api/v1/auth/register" => onboarding::register,
    post "/api/v1/auth/register/confirm" => onboarding::confirm_registration,
    post "/api/v1/auth/email-change/confirm" => onboarding::confirm_email,
    post "/api/v1/invitations" => onboarding::invite,
    post "/api/v1/invitations/accept" => onboarding::accept,
    post "/api/v1/me/email" => onboarding::change_email,
    post "/api/v1/auth/reauth" => identity::reauth,
    post "/api/v1/auth/logout" => identity::logout,
    get "/api/v1/me" => identity::me,
    post "/api/v1/me/password" => account::change_password,
    get "/api/v1/me/sessions" => account::sessions,
    delete "/api/v1/me/sessions" => account::revoke_other_sessions,
    delete "/api/v1/me/sessions/{session_id}" => account::revoke_session,
    get "/api/v1/me/second-factors" => account::factors,
    post "/api/v1/me/second-factors/totp" => account::begin_totp,
    delete "/api/v1/me/second-factors/totp" => account::remove_totp,
    post "/api/v1/me/second-factors/totp/confirm" => account::confirm_totp,
    post "/api/v1/me/second-factors/recovery-codes" => account::regenerate_recovery_codes,
    get "/api/v1/me/passkeys" => passkeys::list,
    post "/api/v1/me/passkeys" => passkeys::finish_registration,
    post "/api/v1/me/passkeys/registrations" => passkeys::begin_registration,
    patch "/api/v1/me/passkeys/{passkey_id}" => passkeys::rename,
    delete "/api/v1/me/passkeys/{passkey_id}" => passkeys::remove,
    get "/api/v1/settings/security" => settings::get,
    patch "/api/v1/settings/security" => settings::update,
    get "/api/v1/settings/edge" => edge_settings::get,
    get "/api/v1/audit" => audit::list,
    get "/api/v1/audit/export" => audit::export,
    get "/api/v1/audit/actions" => audit::actions,
    patch "/api/v1/settings/edge" => edge_settings::update,
    get "/api/v1/users" => users::list,
    get "/api/v1/users/access-review" => access_review::review,
    post "/api/v1/users" => users::create,
    get "/api/v1/users/{user_id}" => users::get,
    patch "/api/v1/users/{user_id}" => users::update,
    delete "/api/v1/users/{user_id}" => users::delete,
    get "/api/v1/groups" => groups::list,
    post "/api/v1/groups" => groups::create,
    patch "/api/v1/groups/{group_id}" => groups::rename,
    delete "/api/v1/groups/{group_id}" => groups::delete,
    put "/api/v1/groups/{group_id}/members/{user_id}" => groups::add_member,
    delete "/api/v1/groups/{group_id}/members/{user_id}" => groups::remove_member,
    get "/api/v1/user-attributes" => groups::attributes,
    put "/api/v1/user-attributes" => groups::set_attributes,
    get "/api/v1/identity-providers" => identity_providers::list,
    post "/api/v1/identity-providers" => identity_providers::create,
    get "/api/v1/identity-providers/{provider_id}" => identity_providers::get,
    patch "/api/v1/identity-providers/{provider_id}" => identity_providers::update,
    delete "/api/v1/identity-providers/{provider_id}" => identity_providers::delete,
    get "/api/v1/projects/{project_id}/permission-sets" => permission_sets::list,
    post "/api/v1/projects/{project_id}/permission-sets" => permission_sets::create,
    get "/api/v1/permission-sets/{set_id}" => permission_sets::get,
    put "/api/v1/permission-sets/{set_id}" => permission_sets::replace,
    delete "/api/v1/permission-sets/{set_id}" => permission_sets::delete,
    put "/api/v1/permission-sets/{set_id}/users/{user_id}" => permission_sets::assign_user,
    delete "/api/v1/permission-sets/{set_id}/users/{user_id}" => permission_sets::unassign_user,
    put "/api/v1/permission-sets/{set_id}/groups/{group_id}" => permission_sets::assign_group,
    delete "/api/v1/permission-sets/{set_id}/groups/{group_id}" => permission_sets::unassign_group,
    get "/api/v1/tokens" => tokens::list,
    post "/api/v1/tokens" => tokens::create,
    post "/api/v1/tokens/{token_id}/rotate" => tokens::rotate,
    delete "/api/v1/tokens/{token_id}" => tokens::revoke,
    get "/api/v1/projects" => projects::list,
    post "/api/v1/projects" => projects::create,
    get "/api/v1/projects/{project_id}" => projects::get,
    patch "/api/v1/projects/{project_id}" => projects::update,
    delete "/api/v1/projects/{project_id}" => projects::delete,
    get "/api/v1/projects/{project_id}/openapi.json" => projects::openapi_document,
    get "/api/v1/projects/{project_id}/members" => projects::members,
    put "/api/v1/projects/{project_id}/members/{user_id}" => projects::set_member,
    delete "/api/v1/projects/{project_id}/members/{user_id}" => projects::remove_member,
    get "/api/v1/projects/{project_id}/secrets" => secrets::list,
    put "/api/v1/projects/{project_id}/secrets/{name}" => secrets::set,
    delete "/api/v1/projects/{project_id}/secrets/{name}" => secrets::delete,
    get "/api/v1/projects/{project_id}/tables" => tables::list,
    post "/api/v1/projects/{project_id}/tables" => tables::create,
    get "/api/v1/tables/{table_id}" => tables::get,
    patch "/api/v1/tables/{table_id}" => tables::update,
    delete "/api/v1/tables/{table_id}" => tables::delete,
    post "/api/v1/tables/{table_id}/fields" => tables::add_field,
    patch "/api/v1/tables/{table_id}/fields/{field_id}" => tables::change_field,
    delete "/api/v1/tables/{table_id}/fields/{field_id}" => tables::delete_field,
    get "/api/v1/tables/{table_id}/records" => records::list,
    post "/api/v1/tables/{table_id}/records" => records::create,
    post "/api/v1/tables/{table_id}/records/batch" => records::batch,
    get "/api/v1/tables/{table_id}/records/{record_id}" => records::get,
    get "/api/v1/tables/{table_id}/records/{record_id}/explain" => records::explain,
    get "/api/v1/tables/{table_id}/simulate" => records::simulate,
    get "/api/v1/tables/{table_id}/export" => transfer::export,
    post "/api/v1/imports/preview" => transfer::preview,
    post "/api/v1/tables/{table_id}/imports" => transfer::start_import,
    post "/api/v1/projects/{project_id}/imports" => transfer::import_new_table,
    get "/api/v1/imports/{import_id}" => transfer::get_import,
    post "/api/v1/imports/{import_id}/cancel" => transfer::cancel_import,
    get "/api/v1/imports/{import_id}/rejects" => transfer::import_rejects,
    patch "/api/v1/tables/{table_id}/records/{record_id}" => records::update,
    delete "/api/v1/tables/{table_id}/records/{record_id}" => records::delete,
}

struct SecuritySchemes;

/// Every operation may answer a problem document: 4XX for the caller's mistakes, 5XX for ours.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (range, description) in [
                    ("4XX", "A problem with the request"),
                    ("5XX", "A problem on the server"),
                ] {
                    op.responses
                        .responses
                        .entry(range.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem())
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rpt_")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::caller::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        use utoipa::openapi::{ContentBuilder, ResponseBuilder};
        let json_object = ContentBuilder::new()
            .schema(Some(
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Object)
                    .build(),
            ))
            .build();
        let serve_doc = utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("identity")
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The OpenAPI document")
                        .content("application/json", json_object)
                        .build(),
                ),
        );
        doc.paths
            .paths
            .insert("/api/v1/openapi.json".into(), serve_doc);
        ProblemResponses.modify(&mut doc);
        doc
    })
}

/// Serves the document, serialized once: it is large and never changes while the server runs.
pub async fn serve() -> axum::response::Response {
    static BODY: OnceLock<Option<axum::body::Bytes>> = OnceLock::new();
    let body = BODY.get_or_init(|| serde_json::to_vec(document()).ok().map(Into::into));
    match body {
        Some(bytes) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            bytes.clone(),
        )
            .into_response(),
        None => crate::error::ApiError::internal(&"the OpenAPI document does not serialize")
            .into_response(),
    }
}

/// A schema that accepts any JSON value (for defaults, options and record values).
pub fn any_value() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .build()
}
