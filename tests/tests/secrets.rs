//! Project secrets and config values: sealed at rest, written but never read back by a
//! client (a keyed fingerprint tells values apart), opened only by the server's own code,
//! for project admins only, audited without their values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_core::ProjectId;
use rampart_store::{Tx, secrets};
use rampart_tests::{Backend, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    secrets_are_sealed_never_shown_and_opened_only_by_the_server,
    only_project_admins_manage_secrets_and_bad_input_changes_nothing,
);

const VALUE: &str = "sk_live_51HcLuNotARealKeyButLongEnough0000";

async fn secrets_are_sealed_never_shown_and_opened_only_by_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await;
    let project = p.body["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/projects/{project}/secrets");

    let r = owner
        .put(&format!("{base}/STRIPE_KEY"), json!({"value": VALUE}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["kind"], "secret");
    assert_eq!(r.body["environment"], "production");
    assert!(r.body.get("value").is_none());
    assert!(!r.text.contains(VALUE));
    let first_print = r.body["fingerprint"].as_str().unwrap().to_owned();

    let r = owner
        .put(
            &format!("{base}/API_URL"),
            json!({"value": "https://api.example.com", "kind": "config", "environment": "staging"}),
        )
        .await;
    assert_eq!(
        r.body["value"], "https://api.example.com",
        "config values are shown"
    );

    let list = owner.get(&base).await;
    assert_eq!(list.status, 200);
    assert!(
        !list.text.contains(VALUE),
        "a secret never comes back: {}",
        list.text
    );
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 2);

    // The same value has the same fingerprint; another value another one.
    let again = owner
        .put(&format!("{base}/STRIPE_KEY"), json!({"value": VALUE}))
        .await;
    assert_eq!(again.body["fingerprint"], first_print);
    let other = owner
        .put(&format!("{base}/OTHER"), json!({"value": "something else"}))
        .await;
    assert_ne!(other.body["fingerprint"], first_print);

    // At rest it is sealed; the server's own code opens it.
    let (_, ts) = server.tenant("acme").await;
    let raw: Vec<Vec<u8>> = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT sealed FROM project_secrets");
                tx.fetch_all(q).await?.iter().map(|r| r.bytes(0)).collect()
            })
        })
        .await
        .unwrap();
    assert!(
        raw.iter()
            .all(|b| !b.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()))
    );
    let keys = ts.data_keys().await.unwrap();
    let pid: ProjectId = project.parse().unwrap();
    let revealed = ts
        .read(move |tx: &mut Tx| {
            Box::pin(
                async move { secrets::reveal(tx, &keys, pid, "production", "STRIPE_KEY").await },
            )
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revealed.as_str(), VALUE);

    // Audited, without the value.
    let audit = owner.get("/api/v1/audit/export?action=secret.").await;
    assert_eq!(audit.text.lines().count(), 4, "{}", audit.text);
    assert!(!audit.text.contains(VALUE));

    let r = owner.delete(&format!("{base}/STRIPE_KEY")).await;
    assert_eq!(r.status, 204);
    let r = owner.delete(&format!("{base}/STRIPE_KEY")).await;
    assert_eq!(r.status, 404);
    let r = owner
        .delete(&format!("{base}/API_URL?environment=staging"))
        .await;
    assert_eq!(r.status, 204);
    server.stop().await;
}

async fn only_project_admins_manage_secrets_and_bad_input_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await;
    let project = p.body["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/projects/{project}/secrets");
    let editor = server
        .user(&owner, "acme", "editor@acme.test", "member")
        .await;
    let editor_id = editor.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .put(
            &format!("/api/v1/projects/{project}/members/{editor_id}"),
            json!({"role": "editor"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let outsider = server
        .user(&owner, "acme", "outsider@acme.test", "member")
        .await;

    let r = editor.get(&base).await;
    assert_eq!(r.status, 403, "an editor is not a project admin: {r:?}");
    let r = editor
        .put(&format!("{base}/KEY"), json!({"value": "v"}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = outsider.get(&base).await;
    assert_eq!(r.status, 404, "an outsider cannot tell the project exists");

    for (path, body, field) in [
        ("9LIVES", json!({"value": "v"}), "name"),
        ("has-dash", json!({"value": "v"}), "name"),
        ("OK", json!({"value": "v", "kind": "password"}), "kind"),
        (
            "OK",
            json!({"value": "v", "environment": "Prod"}),
            "environment",
        ),
        ("OK", json!({"value": "x".repeat(70_000)}), "value"),
    ] {
        let r = owner.put(&format!("{base}/{path}"), body).await;
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], field, "{r:?}");
    }
    assert_eq!(owner.get(&base).await.body, json!([]), "nothing was stored");

    // A token reads the list but cannot write secrets (a recent password is needed).
    let t = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    let token = owner
        .anonymous()
        .with_token(t.body["secret"].as_str().unwrap());
    assert_eq!(token.get(&base).await.status, 200);
    let r = token
        .put(&format!("{base}/KEY"), json!({"value": "v"}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    server.stop().await;
}
