//! Identity providers for single sign-on: their client secrets are sealed at rest, bound to
//! their provider, never returned to a client (a keyed fingerprint tells them apart), opened
//! only by the server's own code, re-sealed after a data key rotation; only tenant admins
//! with a recently re-authenticated session change them; bad input changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_crypto::keyring::sealed_version;
use rampart_sql::Param;
use rampart_store::identity_providers::{self, ProviderId};
use rampart_store::{StoreError, TenantStore, Tx};
use rampart_tests::{Backend, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    client_secrets_are_sealed_bound_to_their_provider_and_never_returned,
    only_tenant_admins_change_providers_and_bad_input_changes_nothing,
);

const SECRET: &str = "oidc-client-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const NEW_SECRET: &str = "rotated-client-secret-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn stored_secret(ts: &TenantStore, id: ProviderId) -> Vec<u8> {
    ts.read(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT client_secret FROM identity_providers WHERE id = ")
                .param(Param::Uuid(id));
            tx.fetch_one(q).await?.bytes(0)
        })
    })
    .await
    .unwrap()
}

async fn reveal(ts: &TenantStore, id: ProviderId) -> Result<Option<String>, StoreError> {
    ts.read(move |tx: &mut Tx| {
        Box::pin(async move {
            Ok(identity_providers::client_secret(tx, id)
                .await?
                .map(|s| s.as_str().to_owned()))
        })
    })
    .await
}

async fn client_secrets_are_sealed_bound_to_their_provider_and_never_returned(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let r = owner
        .post(
            "/api/v1/identity-providers",
            json!({
                "name": "Acme SSO",
                "issuer": "https://login.acme.test/realms/acme",
                "client_id": "rampart-web",
                "client_secret": SECRET,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(!r.text.contains(SECRET), "{}", r.text);
    assert_eq!(r.body["protocol"], "oidc");
    assert_eq!(r.body["scopes"], json!(["openid", "email", "profile"]));
    let id: ProviderId = r.body["id"].as_str().unwrap().parse().unwrap();
    let print = r.body["client_secret_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(print.len(), 16);

    let list = owner.get("/api/v1/identity-providers").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(!list.text.contains(SECRET));
    let one = owner.get(&format!("/api/v1/identity-providers/{id}")).await;
    assert_eq!(one.body["client_secret_fingerprint"], print.as_str());
    assert!(!one.text.contains(SECRET));

    // Sealed at rest; the server's own code opens it.
    let (acme, ts) = server.tenant("acme").await;
    let sealed = stored_secret(&ts, id).await;
    assert!(!contains(&sealed, SECRET));
    assert_eq!(sealed_version(&sealed), Some(1));
    assert_eq!(reveal(&ts, id).await.unwrap().as_deref(), Some(SECRET));

    // Changing other settings keeps the secret; a new secret gets a new fingerprint.
    let r = owner
        .patch(
            &format!("/api/v1/identity-providers/{id}"),
            json!({"name": "Acme login", "scopes": ["openid", "email", "groups"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["name"], "Acme login");
    assert_eq!(r.body["client_secret_fingerprint"], print.as_str());
    assert_eq!(reveal(&ts, id).await.unwrap().as_deref(), Some(SECRET));
    let r = owner
        .patch(
            &format!("/api/v1/identity-providers/{id}"),
            json!({"client_secret": NEW_SECRET}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(r.body["client_secret_fingerprint"], print.as_str());
    assert!(!r.text.contains(NEW_SECRET));
    assert_eq!(reveal(&ts, id).await.unwrap().as_deref(), Some(NEW_SECRET));

    // A data key rotation re-seals it with the new key, and it still opens.
    let version = server.store.keys().rotate_dek(acme.id).await.unwrap();
    let done =
        rampart_app::keys::rotation::finish_rotation(&server.store, &ts, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(done.identity_provider_secrets, 1);
    assert_eq!(sealed_version(&stored_secret(&ts, id).await), Some(version));
    assert_eq!(reveal(&ts, id).await.unwrap().as_deref(), Some(NEW_SECRET));

    // Bound to its provider: the sealed secret copied onto another provider does not open.
    let other = owner
        .post(
            "/api/v1/identity-providers",
            json!({
                "name": "Other",
                "issuer": "https://other.example",
                "client_id": "x",
                "client_secret": "other",
            }),
        )
        .await;
    let other_id: ProviderId = other.body["id"].as_str().unwrap().parse().unwrap();
    let moved = stored_secret(&ts, id).await;
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("UPDATE identity_providers SET client_secret = ")
                .param(Param::Bytes(moved))
                .push(" WHERE id = ")
                .param(Param::Uuid(other_id));
            tx.execute(q).await
        })
    })
    .await
    .unwrap();
    assert!(
        reveal(&ts, other_id).await.is_err(),
        "a secret moved to another provider must not open"
    );

    // Audited, without the secret.
    let audit = owner
        .get("/api/v1/audit/export?action=identity_provider.")
        .await;
    assert_eq!(audit.status, 200);
    let actions: Vec<String> = audit
        .text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions.len(), 4, "{}", audit.text);
    assert!(
        !audit.text.contains(SECRET) && !audit.text.contains(NEW_SECRET),
        "{}",
        audit.text
    );
    assert!(audit.text.contains("client_secret"), "the change is named");

    let r = owner
        .delete(&format!("/api/v1/identity-providers/{id}"))
        .await;
    assert_eq!(r.status, 204);
    let r = owner
        .delete(&format!("/api/v1/identity-providers/{id}"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(reveal(&ts, id).await.unwrap(), None);
    server.stop().await;
}

async fn only_tenant_admins_change_providers_and_bad_input_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let good = json!({
        "name": "Acme SSO",
        "issuer": "https://login.acme.test",
        "client_id": "rampart",
        "client_secret": SECRET,
    });
    let base = "/api/v1/identity-providers";

    assert_eq!(member.get(base).await.status, 403);
    let r = member.post(base, good.clone()).await;
    assert_eq!(r.status, 403, "{r:?}");

    // A token may read the list, never change it: that needs a recent password.
    let t = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    let token = owner
        .anonymous()
        .with_token(t.body["secret"].as_str().unwrap());
    assert_eq!(token.get(base).await.status, 200);
    let r = token.post(base, good.clone()).await;
    assert_eq!(r.status, 403, "{r:?}");

    let with = |key: &str, value: serde_json::Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    for (body, field, code) in [
        (with("name", json!("")), "name", "invalid_length"),
        (
            with("issuer", json!("http://login.acme.test")),
            "issuer",
            "invalid_issuer",
        ),
        (
            with("issuer", json!("https://u:p@login.acme.test")),
            "issuer",
            "invalid_issuer",
        ),
        (
            with("issuer", json!("https://login.acme.test/?tenant=1")),
            "issuer",
            "invalid_issuer",
        ),
        (
            with("client_id", json!("has space")),
            "client_id",
            "invalid_client_id",
        ),
        (
            with("client_secret", json!("")),
            "client_secret",
            "invalid_length",
        ),
        (
            with("client_secret", json!("line\nbreak")),
            "client_secret",
            "invalid_client_secret",
        ),
        (
            with("scopes", json!(["email"])),
            "scopes",
            "openid_scope_required",
        ),
        (
            with("scopes", json!(["openid", "openid"])),
            "scopes",
            "duplicate_scope",
        ),
    ] {
        let r = owner.post(base, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], field, "{r:?}");
        assert_eq!(r.body["errors"][0]["code"], code, "{r:?}");
        assert!(!r.text.contains(SECRET));
    }
    // Every bad field is named at once.
    let r = owner
        .post(
            base,
            json!({"name": "X", "issuer": "ftp://x", "client_id": "", "client_secret": "s"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2, "{r:?}");
    let r = owner.post(base, with("extra", json!(1))).await;
    assert_eq!(r.status, 400, "unknown fields are refused: {r:?}");
    assert_eq!(owner.get(base).await.body, json!([]), "nothing was stored");

    let r = owner.post(base, good.clone()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = owner.post(base, with("name", json!("acme sso"))).await;
    assert_eq!(r.status, 409, "names are unique regardless of case: {r:?}");

    let before = owner.get(&format!("{base}/{id}")).await.body;
    let r = owner
        .patch(
            &format!("{base}/{id}"),
            json!({"name": "Renamed", "issuer": "http://evil.example"}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "issuer");
    assert_eq!(
        owner.get(&format!("{base}/{id}")).await.body,
        before,
        "a refused change changes nothing"
    );
    let r = member
        .patch(&format!("{base}/{id}"), json!({"name": "Mine"}))
        .await;
    assert_eq!(r.status, 403);
    let r = member.delete(&format!("{base}/{id}")).await;
    assert_eq!(r.status, 403);
    let r = token.delete(&format!("{base}/{id}")).await;
    assert_eq!(r.status, 403);
    let missing = uuid::Uuid::now_v7();
    let r = owner
        .patch(&format!("{base}/{missing}"), json!({"name": "Nope"}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(owner.get(&format!("{base}/not-an-id")).await.status, 404);

    // Another tenant's admin does not see them.
    let other = server.owner("default").await;
    assert_eq!(other.get(base).await.body, json!([]));
    assert_eq!(other.get(&format!("{base}/{id}")).await.status, 404);
    server.stop().await;
}
