//! Passkeys over HTTP with a software authenticator doing the real WebAuthn ceremonies:
//! registration, listing, renaming and removal; a passkey as the second factor after a
//! password; passwordless sign-in that never tells whether an account exists and that a
//! flood of password guesses cannot lock out; and the attacker's side (replayed answers,
//! answers for another challenge, another site's origin, someone else's ceremony).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, PASSWORD, PasskeyDevice, Resp, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    passkeys_are_registered_listed_renamed_and_removed,
    registration_refuses_replays_other_origins_and_other_users,
    a_passkey_answers_the_second_factor_challenge,
    passwordless_sign_in_with_a_passkey,
    passwordless_options_do_not_tell_whether_an_account_exists,
    a_passkey_satisfies_a_required_second_factor,
);

const OWNER: &str = "owner@acme.test";

async fn begin(client: &Client) -> Value {
    let r = client
        .post("/api/v1/me/passkeys/registrations", json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

async fn finish(client: &Client, ceremony: &Value, name: &str, credential: &Value) -> Resp {
    client
        .post(
            "/api/v1/me/passkeys",
            json!({"ceremony_id": ceremony["ceremony_id"], "name": name, "credential": credential}),
        )
        .await
}

async fn passkeys_are_registered_listed_renamed_and_removed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let mut laptop = PasskeyDevice::new();
    let mut phone = PasskeyDevice::new();

    // The options ask for user verification and name the tenant's host as relying party.
    let ceremony = begin(&owner).await;
    let options = &ceremony["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "acme.localhost", "{ceremony}");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = laptop.create(&owner, &ceremony["options"]);
    let r = finish(&owner, &ceremony, "laptop", &credential).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["passkey"]["name"], "laptop");
    assert_eq!(
        r.body["recovery_codes"].as_array().unwrap().len(),
        10,
        "a first second factor comes with recovery codes"
    );
    assert_eq!(
        owner.get("/api/v1/me/second-factors").await.body,
        json!({"totp": false, "passkeys": 1, "recovery_codes_left": 10, "required": false})
    );
    assert_eq!(owner.get("/api/v1/me").await.body["second_factor"], true);

    let r = phone.register(&owner, "phone").await;
    assert!(
        r.get("recovery_codes").is_none(),
        "codes are not replaced: {r}"
    );
    let phone_id = r["passkey"]["id"].as_str().unwrap().to_owned();

    let list = owner.get("/api/v1/me/passkeys").await;
    assert_eq!(list.status, 200);
    let names: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("laptop"), json!("phone")]);
    assert!(
        !list.text.contains("credential") && !list.text.contains("public"),
        "{}",
        list.text
    );

    let path = format!("/api/v1/me/passkeys/{phone_id}");
    let r = owner.patch(&path, json!({"name": "work phone"})).await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = owner.patch(&path, json!({"name": "  "})).await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"));
    assert_eq!(r.body["errors"][0]["field"], "name");
    let unknown = format!("/api/v1/me/passkeys/{}", uuid::Uuid::new_v4());
    assert_eq!(
        owner.patch(&unknown, json!({"name": "x"})).await.status,
        404
    );
    assert_eq!(
        owner.get("/api/v1/me/passkeys").await.body[1]["name"],
        "work phone"
    );

    // Another user cannot touch the owner's passkeys.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    assert_eq!(
        member.patch(&path, json!({"name": "mine"})).await.status,
        404
    );
    assert_eq!(member.delete(&path).await.status, 404);
    assert_eq!(member.get("/api/v1/me/passkeys").await.body, json!([]));

    // Removing needs a recent password.
    server
        .backdate("acme", "UPDATE sessions SET authenticated_at = ")
        .await;
    let r = owner.delete(&path).await;
    assert_eq!((r.status, r.code()), (403, "reauthentication_required"));
    let r = owner
        .post("/api/v1/me/passkeys/registrations", json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "reauthentication_required"));
    let r = owner
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(owner.delete(&path).await.status, 204);
    assert_eq!(
        owner
            .get("/api/v1/me/passkeys")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Removing the last passkey removes the recovery codes that stood in for it.
    let laptop_id = owner.get("/api/v1/me/passkeys").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .delete(&format!("/api/v1/me/passkeys/{laptop_id}"))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        owner.get("/api/v1/me/second-factors").await.body,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0, "required": false})
    );
    server.stop().await;
}

async fn registration_refuses_replays_other_origins_and_other_users(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let mut device = PasskeyDevice::new();

    // An answer made for another site (a phishing page's origin) does not verify.
    let ceremony = begin(&owner).await;
    let phishing = server.client("acme-login");
    let credential = device.create(&phishing, &ceremony["options"]);
    let r = finish(&owner, &ceremony, "laptop", &credential).await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"), "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "credential_refused");
    // ... and the ceremony is spent.
    let credential = device.create(&owner, &ceremony["options"]);
    let r = finish(&owner, &ceremony, "laptop", &credential).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_ceremony", "{r:?}");

    // Someone else's ceremony cannot be finished, and is not spent by trying.
    let ceremony = begin(&owner).await;
    let credential = device.create(&owner, &ceremony["options"]);
    let r = finish(&member, &ceremony, "stolen", &credential).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_ceremony", "{r:?}");
    assert_eq!(member.get("/api/v1/me/passkeys").await.body, json!([]));

    // A good answer registers once; replaying it is refused.
    let ceremony = begin(&owner).await;
    let credential = device.create(&owner, &ceremony["options"]);
    assert_eq!(
        finish(&owner, &ceremony, "laptop", &credential)
            .await
            .status,
        201
    );
    let r = finish(&owner, &ceremony, "again", &credential).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_ceremony", "{r:?}");

    // Malformed input names its field and changes nothing.
    let r = owner
        .post(
            "/api/v1/me/passkeys",
            json!({"ceremony_id": "nope", "name": "x", "credential": {}}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "ceremony_id", "{r:?}");
    let ceremony = begin(&owner).await;
    let r = finish(&owner, &ceremony, "x", &json!({"id": 5})).await;
    assert_eq!(r.body["errors"][0]["field"], "credential", "{r:?}");
    assert_eq!(
        owner
            .get("/api/v1/me/passkeys")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // API tokens cannot register passkeys.
    let secret = owner
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .with_token(&secret)
        .post("/api/v1/me/passkeys/registrations", json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    server.stop().await;
}

async fn password_step(anon: &Client, email: &str) -> Value {
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.body["status"], "second_factor_required", "{r:?}");
    r.body
}

async fn passkey_options(anon: &Client, challenge: &Value) -> Resp {
    anon.post(
        "/api/v1/auth/login/second-factor/passkey-options",
        json!({"challenge": challenge}),
    )
    .await
}

async fn answer(anon: &Client, challenge: &Value, ceremony: &Value, credential: &Value) -> Resp {
    anon.post(
        "/api/v1/auth/login/second-factor",
        json!({
            "challenge": challenge,
            "passkey": {"ceremony_id": ceremony, "credential": credential},
        }),
    )
    .await
}

async fn a_passkey_answers_the_second_factor_challenge(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let mut device = PasskeyDevice::new();
    device.register(&owner, "laptop").await;
    let anon = server.client("acme");

    let login = password_step(&anon, OWNER).await;
    assert_eq!(login["methods"], json!(["passkey", "recovery_code"]));
    let challenge = &login["challenge"];
    let r = passkey_options(&anon, challenge).await;
    assert_eq!(r.status, 200, "{r:?}");
    let ceremony = r.body["ceremony_id"].clone();
    let credential = device.get(&anon, &r.body["options"]).expect("an assertion");
    let r = answer(&anon, challenge, &ceremony, &credential).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "signed_in");
    let signed_in = anon.with_session_of(&r);
    assert_eq!(signed_in.get("/api/v1/me").await.body["email"], OWNER);
    let used = owner.get("/api/v1/me/passkeys").await;
    assert!(used.body[0]["last_used_at"].is_string(), "{used:?}");

    // The same answer cannot be replayed for a new login.
    let login = password_step(&anon, OWNER).await;
    let r = answer(&anon, &login["challenge"], &ceremony, &credential).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{r:?}");

    // An answer signed for one ceremony does not finish another.
    let login = password_step(&anon, OWNER).await;
    let challenge = &login["challenge"];
    let first = passkey_options(&anon, challenge).await.body;
    let second = passkey_options(&anon, challenge).await.body;
    let credential = device.get(&anon, &first["options"]).unwrap();
    let r = answer(&anon, challenge, &second["ceremony_id"], &credential).await;
    assert_eq!(r.status, 401, "{r:?}");

    // Nor does a passkey ceremony started for another user's challenge.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let mut member_device = PasskeyDevice::new();
    member_device.register(&member, "member laptop").await;
    let owner_login = password_step(&anon, OWNER).await;
    let member_login = password_step(&anon, "m@acme.test").await;
    let r = passkey_options(&anon, &member_login["challenge"])
        .await
        .body;
    let credential = member_device.get(&anon, &r["options"]).unwrap();
    let r = answer(
        &anon,
        &owner_login["challenge"],
        &r["ceremony_id"],
        &credential,
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");

    // A challenge is needed to get passkey options at all.
    let r = passkey_options(&anon, &json!("rpc_not-a-challenge")).await;
    assert_eq!(r.status, 401);
    server.stop().await;
}

async fn sign_in_options(anon: &Client, email: &str) -> Value {
    let r = anon
        .post("/api/v1/auth/passkey/options", json!({"email": email}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

async fn sign_in(anon: &Client, ceremony: &Value, credential: &Value) -> Resp {
    anon.post(
        "/api/v1/auth/passkey",
        json!({"ceremony_id": ceremony, "credential": credential}),
    )
    .await
}

async fn passwordless_sign_in_with_a_passkey(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let mut device = PasskeyDevice::new();
    device.register(&owner, "laptop").await;
    let anon = server.client("acme");

    let options = sign_in_options(&anon, OWNER).await;
    let credential = device
        .get(&anon, &options["options"])
        .expect("an assertion");
    let r = sign_in(&anon, &options["ceremony_id"], &credential).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["user"]["email"], OWNER);
    let session = anon.with_session_of(&r);
    assert_eq!(session.get("/api/v1/me").await.status, 200);
    // A passkey sign-in counts as a fresh authentication.
    let r = session
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    // Replaying the answer is refused.
    let r = sign_in(&anon, &options["ceremony_id"], &credential).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));

    // A flood of wrong passwords from many addresses blocks password sign-in for the
    // account, but not its owner's passkey.
    for n in 0..8u8 {
        let r = anon
            .from_loopback(10 + n)
            .post(
                "/api/v1/auth/login",
                json!({"email": OWNER, "password": "wrong guess number x"}),
            )
            .await;
        assert!(matches!(r.status, 401 | 429), "{r:?}");
    }
    let r = anon
        .from_loopback(99)
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.body["status"], "second_factor_required",
        "with a second factor the right password still gets a challenge: {r:?}"
    );
    let options = sign_in_options(&anon, OWNER).await;
    let credential = device.get(&anon, &options["options"]).unwrap();
    let r = sign_in(&anon, &options["ceremony_id"], &credential).await;
    assert_eq!(r.status, 200, "{r:?}");

    // A disabled user's passkey no longer signs in.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut member_device = PasskeyDevice::new();
    member_device.register(&member, "laptop").await;
    let options = sign_in_options(&anon, "m@acme.test").await;
    let credential = member_device.get(&anon, &options["options"]).unwrap();
    let r = owner
        .patch(
            &format!("/api/v1/users/{member_id}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = sign_in(&anon, &options["ceremony_id"], &credential).await;
    assert_eq!(r.status, 401, "{r:?}");
    let options = sign_in_options(&anon, "m@acme.test").await;
    assert!(
        member_device.get(&anon, &options["options"]).is_none(),
        "a disabled account gets a decoy"
    );
    server.stop().await;
}

fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("s"),
        Value::Number(_) => json!(0),
        other => other.clone(),
    }
}

async fn passwordless_options_do_not_tell_whether_an_account_exists(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let mut device = PasskeyDevice::new();
    device.register(&owner, "laptop").await;
    server
        .user(&owner, "acme", "nokey@acme.test", "member")
        .await;
    let anon = server.client("acme");

    let real = sign_in_options(&anon, OWNER).await;
    let unknown = sign_in_options(&anon, "nobody@acme.test").await;
    let without_passkey = sign_in_options(&anon, "nokey@acme.test").await;
    assert_eq!(shape(&real), shape(&unknown), "{real} vs {unknown}");
    assert_eq!(shape(&real), shape(&without_passkey));

    // The decoy's credential id is stable for an email, so asking twice tells nothing.
    let id = |v: &Value| v["options"]["publicKey"]["allowCredentials"][0]["id"].clone();
    let again = sign_in_options(&anon, "nobody@acme.test").await;
    assert_eq!(id(&unknown), id(&again));
    assert_ne!(id(&unknown), id(&without_passkey));
    assert_ne!(
        unknown["options"]["publicKey"]["challenge"],
        again["options"]["publicKey"]["challenge"]
    );
    let real_again = sign_in_options(&anon, OWNER).await;
    assert_eq!(id(&real), id(&real_again));

    // A decoy ceremony never signs anyone in, even with a real passkey's answer.
    assert!(device.get(&anon, &unknown["options"]).is_none());
    let credential = device.get(&anon, &real["options"]).unwrap();
    let r = sign_in(&anon, &unknown["ceremony_id"], &credential).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    server.stop().await;
}

async fn a_passkey_satisfies_a_required_second_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let mut owner_device = PasskeyDevice::new();
    owner_device.register(&owner, "laptop").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"require_second_factor": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    let r = member.get("/api/v1/projects").await;
    assert_eq!(
        (r.status, r.code()),
        (403, "second_factor_enrolment_required")
    );
    let mut device = PasskeyDevice::new();
    device.register(&member, "laptop").await;
    assert_eq!(member.get("/api/v1/projects").await.status, 200);
    assert_eq!(owner.get("/api/v1/projects").await.status, 200);
    server.stop().await;
}
