//! People arriving and moving by mail, through a real SMTP server on loopback: invitations,
//! self-registration (off by default, limited to domains when on) and email changes that
//! only take effect once the new address proves itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_server::config::SmtpTls;
use rampart_tests::smtp::secret_in;
use rampart_tests::{Backend, PASSWORD, SmtpSink, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    admins_invite_people_by_mail,
    self_registration_is_off_by_default_and_can_be_limited_to_domains,
    an_email_change_waits_for_the_new_address,
);

const GOOD: &str = "copper willow signal thistle";

async fn with_mail(backend: Backend) -> Option<(SmtpSink, TestServer)> {
    let sink = SmtpSink::start().await?;
    let port = sink.port;
    let server = TestServer::start_with(backend, move |c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = port;
        c.smtp.tls = SmtpTls::None;
    })
    .await;
    Some((sink, server))
}

async fn code_for(sink: &SmtpSink, to: &str) -> String {
    secret_in(&sink.wait_for(to, "rpe_").await, "rpe_").expect("a code in the mail")
}

async fn admins_invite_people_by_mail(backend: Backend) {
    let Some((sink, server)) = with_mail(backend).await else {
        return;
    };
    let owner = server.owner("acme").await;
    let anon = server.client("acme");
    // Addresses the mailer could not send to are refused at once, with the rule every
    // address is held to (never answered 202 and then dropped).
    for bad in ["x@ex;<a>.com", "x@[1.2.3.4]", "a..b@acme.test", "x@1.2.3.4"] {
        let r = owner
            .post("/api/v1/invitations", json!({"email": bad}))
            .await;
        assert_eq!(
            (r.status, r.body["errors"][0]["code"].as_str()),
            (400, Some("invalid_email")),
            "{bad}: {r:?}"
        );
    }
    let r = owner
        .post("/api/v1/invitations", json!({"email": "new@acme.test"}))
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["role"], "member");
    let mail = sink.wait_for("new@acme.test", "rpe_").await;
    assert!(mail.contains("/accept-invitation#token=rpe_"), "{mail}");
    let code = secret_in(&mail, "rpe_").unwrap();

    let accept = "/api/v1/invitations/accept";
    let r = anon
        .post(
            accept,
            json!({"token": code, "display_name": "New", "password": "new@acme.test1"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "password");
    let r = anon
        .post(
            accept,
            json!({"token": code, "display_name": "New", "password": GOOD}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.body["email"].clone(), r.body["role"].clone()),
        (json!("new@acme.test"), json!("member"))
    );
    let r = anon
        .post(
            accept,
            json!({"token": code, "display_name": "Again", "password": GOOD}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_token", "single use");
    let newcomer = anon.login("new@acme.test", GOOD).await;
    assert_eq!(newcomer.get("/api/v1/me").await.status, 200);

    // Existing addresses, roles above one's own, and members are refused.
    let r = owner
        .post("/api/v1/invitations", json!({"email": "new@acme.test"}))
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "email_taken", "{r:?}");
    let admin = server
        .user(&owner, "acme", "admin@acme.test", "admin")
        .await;
    let r = admin
        .post(
            "/api/v1/invitations",
            json!({"email": "boss@acme.test", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = newcomer
        .post("/api/v1/invitations", json!({"email": "friend@acme.test"}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    // An owner's invitation to a higher role carries it.
    let r = owner
        .post(
            "/api/v1/invitations",
            json!({"email": "boss@acme.test", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let code = code_for(&sink, "boss@acme.test").await;
    server
        .backdate("acme", "UPDATE email_tokens SET expires_at = ")
        .await;
    let r = anon
        .post(
            accept,
            json!({"token": code, "display_name": "Boss", "password": GOOD}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_token", "expired");
    server.stop().await;
    sink.stop().await;
}

async fn self_registration_is_off_by_default_and_can_be_limited_to_domains(backend: Backend) {
    let Some((sink, server)) = with_mail(backend).await else {
        return;
    };
    let owner = server.owner("acme").await;
    let anon = server.client("acme");
    let register = "/api/v1/auth/register";
    let r = anon
        .post(register, json!({"email": "joiner@acme.test"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "registration_closed"));

    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"self_registration": true, "registration_domains": ["ACME.test"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["registration_domains"], json!(["acme.test"]));
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"registration_domains": ["not a domain"]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "registration_domains");

    let r = anon.post(register, json!({"email": "x@other.test"})).await;
    assert_eq!(r.body["errors"][0]["code"], "domain_not_allowed", "{r:?}");
    // An address that already has an account gets the same answer and no mail.
    let taken = anon
        .post(register, json!({"email": "owner@acme.test"}))
        .await;
    let fresh = anon
        .post(register, json!({"email": "joiner@acme.test"}))
        .await;
    assert_eq!((taken.status, &taken.text), (202, &fresh.text));
    let code = code_for(&sink, "joiner@acme.test").await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.contains("To: owner@acme.test"))
    );

    let r = anon
        .post(
            "/api/v1/auth/register/confirm",
            json!({"token": code, "display_name": "Joiner", "password": GOOD}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["role"], "member");
    assert_eq!(
        anon.login("joiner@acme.test", GOOD)
            .await
            .get("/api/v1/me")
            .await
            .status,
        200
    );

    // Closing sign-ups stops codes already sent.
    let r = anon
        .post(register, json!({"email": "late@acme.test"}))
        .await;
    assert_eq!(r.status, 202);
    let code = code_for(&sink, "late@acme.test").await;
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"self_registration": false}),
        )
        .await;
    assert_eq!(r.body["self_registration"], false);
    let r = anon
        .post(
            "/api/v1/auth/register/confirm",
            json!({"token": code, "display_name": "Late", "password": GOOD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "registration_closed"));
    server.stop().await;
    sink.stop().await;
}

async fn an_email_change_waits_for_the_new_address(backend: Backend) {
    let Some((sink, server)) = with_mail(backend).await else {
        return;
    };
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let anon = server.client("acme");

    let r = member
        .post("/api/v1/me/email", json!({"email": "moved@acme.test"}))
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let code = code_for(&sink, "moved@acme.test").await;
    // Nothing changed yet.
    assert_eq!(member.get("/api/v1/me").await.body["email"], "m@acme.test");

    let confirm = "/api/v1/auth/email-change/confirm";
    let r = anon.post(confirm, json!({"token": code})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["email"], "moved@acme.test");
    assert_eq!(anon.post(confirm, json!({"token": code})).await.status, 400);
    assert_eq!(member.get("/api/v1/me").await.status, 401, "sessions ended");
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "m@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401);
    let moved = anon.login("moved@acme.test", PASSWORD).await;
    assert_eq!(moved.get("/api/v1/me").await.status, 200);

    // Someone else's address is never taken over: same answer, no mail.
    let r = moved
        .post("/api/v1/me/email", json!({"email": "owner@acme.test"}))
        .await;
    assert_eq!(r.status, 202);
    let r = moved
        .post("/api/v1/me/email", json!({"email": "again@acme.test"}))
        .await;
    assert_eq!(r.status, 202);
    code_for(&sink, "again@acme.test").await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.contains("To: owner@acme.test"))
    );

    // It needs a recent password.
    server
        .backdate("acme", "UPDATE sessions SET authenticated_at = ")
        .await;
    let r = moved
        .post("/api/v1/me/email", json!({"email": "third@acme.test"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "reauthentication_required"));
    server.stop().await;
    sink.stop().await;
}
