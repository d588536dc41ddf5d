//! Forgotten passwords, through a real SMTP server on loopback: the reset mail, a single-use
//! short-lived code, every session ended, no answer that tells whether an account exists,
//! and no way around the second factor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_server::config::SmtpTls;
use rampart_tests::smtp::secret_in;
use rampart_tests::{Backend, PASSWORD, PasskeyDevice, SmtpSink, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    a_forgotten_password_is_reset_by_mail,
    without_mail_the_reset_is_unavailable,
);

const REQUEST: &str = "/api/v1/auth/password-reset";
const CONFIRM: &str = "/api/v1/auth/password-reset/confirm";
const NEW_PASSWORD: &str = "harbor quilt meadow falcon";

async fn a_forgotten_password_is_reset_by_mail(backend: Backend) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let port = sink.port;
    let server = TestServer::start_with(backend, move |c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = port;
        c.smtp.tls = SmtpTls::None;
        c.smtp.from = "Rampart <noreply@acme.test>".into();
    })
    .await;
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let anon = server.client("acme");

    // Known and unknown addresses get the same answer; only the known one gets mail.
    let unknown = anon
        .post(REQUEST, json!({"email": "nobody@acme.test"}))
        .await;
    let known = anon.post(REQUEST, json!({"email": "m@acme.test"})).await;
    assert_eq!((unknown.status, &unknown.text), (202, &known.text));
    let mail = sink.wait_for("m@acme.test", "rpr_").await;
    assert!(mail.contains("From: Rampart <noreply@acme.test>"), "{mail}");
    assert!(
        mail.contains(&format!("{}/reset-password#token=rpr_", anon.origin())),
        "the link points at the tenant: {mail}"
    );
    let token = secret_in(&mail, "rpr_").expect("a reset code in the mail");
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.contains("nobody@acme.test")),
        "no mail for an unknown address"
    );

    // A weak password is refused and the code still works; a good one is accepted once.
    let r = anon
        .post(
            CONFIRM,
            json!({"token": token, "new_password": "password1234"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "new_password");
    let r = anon
        .post(
            CONFIRM,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = anon
        .post(
            CONFIRM,
            json!({"token": token, "new_password": "another fine long phrase"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].clone()),
        (400, json!("invalid_token"))
    );

    // Every session of the account ended; the new password works, the old one does not.
    assert_eq!(member.get("/api/v1/me").await.status, 401);
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "m@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401);
    let member = anon.login("m@acme.test", NEW_PASSWORD).await;
    assert_eq!(member.get("/api/v1/me").await.status, 200);

    // Malformed, expired and superseded codes are refused.
    let r = anon
        .post(
            CONFIRM,
            json!({"token": "rpr_nope", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "token");
    assert_eq!(
        anon.post(REQUEST, json!({"email": "m@acme.test"}))
            .await
            .status,
        202
    );
    let mut seen = vec![token];
    let first = next_code(&sink, &mut seen).await;
    assert_eq!(
        anon.post(REQUEST, json!({"email": "m@acme.test"}))
            .await
            .status,
        202
    );
    let second = next_code(&sink, &mut seen).await;
    let r = anon
        .post(
            CONFIRM,
            json!({"token": first, "new_password": "superseded old code here"}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["code"], "invalid_token",
        "a newer code replaces it"
    );
    server
        .backdate("acme", "UPDATE email_tokens SET expires_at = ")
        .await;
    let r = anon
        .post(
            CONFIRM,
            json!({"token": second, "new_password": "expired code phrase here"}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_token", "expired");

    // A reset does not get around the second factor.
    let mut device = PasskeyDevice::new();
    device.register(&member, "laptop").await;
    assert_eq!(
        anon.post(REQUEST, json!({"email": "m@acme.test"}))
            .await
            .status,
        202
    );
    let third = next_code(&sink, &mut seen).await;
    let r = anon
        .post(
            CONFIRM,
            json!({"token": third, "new_password": "lantern orchard violet comet"}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "m@acme.test", "password": "lantern orchard violet comet"}),
        )
        .await;
    assert_eq!(r.body["status"], "second_factor_required", "{r:?}");
    server.stop().await;
    sink.stop().await;
}

/// The reset code of the next mail not seen yet.
async fn next_code(sink: &SmtpSink, seen: &mut Vec<String>) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = sink
            .messages()
            .iter()
            .filter_map(|m| secret_in(m, "rpr_"))
            .find(|t| !seen.contains(t));
        if let Some(t) = found {
            seen.push(t.clone());
            return t;
        }
        assert!(std::time::Instant::now() < deadline, "no new reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn without_mail_the_reset_is_unavailable(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.owner("acme").await;
    let r = server
        .client("acme")
        .post(REQUEST, json!({"email": "owner@acme.test"}))
        .await;
    assert_eq!((r.status, r.code()), (503, "mail_unavailable"));
    server.stop().await;
}
