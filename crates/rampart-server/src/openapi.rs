//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the one list of
//! endpoints that need no authentication.

use std::sync::OnceLock;

use axum::response::IntoResponse;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::{identity, projects, tokens, users};
use crate::state::AppState;

/// Endpoints reachable without a session or token (DESIGN.md section 7). Everything else
/// requires authentication; a test walks the document to prove it.
pub const PUBLIC_ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/setup"),
    ("post", "/api/v1/auth/login"),
];

#[derive(OpenApi)]
#[openapi(
    info(title = "Rampart API", version = "1", description = "Tenants' projects, tables, fields and records. Errors are RFC 9457 problem documents."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "identity", description = "Setup, sign-in and the current user"),
        (name = "users", description = "Tenant administration of users"),
        (name = "tokens", description = "The caller's API tokens"),
        (name = "projects", description = "Projects and members"),
        (name = "tables", description = "Tables and fields"),
        (name = "records", description = "Records"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

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

/// Every API route with its documentation.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(identity::setup))
        .routes(routes!(identity::login))
        .routes(routes!(identity::logout))
        .routes(routes!(identity::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get, projects::rename, projects::delete))
        .routes(routes!(projects::members))
        .routes(routes!(projects::set_member, projects::remove_member))
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api_router().into_openapi();
        let serve_doc = utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .response(
                    "200",
                    utoipa::openapi::Response::new("The OpenAPI document"),
                ),
        );
        doc.paths
            .paths
            .insert("/api/v1/openapi.json".into(), serve_doc);
        doc
    })
}

pub async fn serve() -> impl IntoResponse {
    axum::Json(document())
}
