//! A software passkey for tests (webauthn-authenticator-rs `SoftPasskey`): it creates real
//! key pairs and signs real assertions, so the server's verifier runs the whole ceremony.
//! The browser's part (building client data with the page's origin) is done here too.

use serde_json::Value;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

use crate::Client;

pub struct PasskeyDevice {
    inner: SoftPasskey,
}

impl Default for PasskeyDevice {
    fn default() -> Self {
        Self::new()
    }
}

const TIMEOUT_MS: u32 = 60_000;

fn origin_of(client: &Client) -> url::Url {
    url::Url::parse(&client.origin()).unwrap()
}

impl PasskeyDevice {
    /// A device that verifies its user (PIN or biometrics), as passkeys must.
    pub fn new() -> Self {
        Self {
            inner: SoftPasskey::new(true),
        }
    }

    /// Answers registration `options` as the browser at `client`'s origin would.
    pub fn create(&mut self, client: &Client, options: &Value) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(options.clone()).expect("creation options");
        let credential = self
            .inner
            .perform_register(origin_of(client), options.public_key, TIMEOUT_MS)
            .expect("the soft passkey registers");
        serde_json::to_value(credential).unwrap()
    }

    /// Answers sign-in `options` as the browser at `client`'s origin would; `None` when this
    /// device holds none of the allowed credentials.
    pub fn get(&mut self, client: &Client, options: &Value) -> Option<Value> {
        let options: RequestChallengeResponse =
            serde_json::from_value(options.clone()).expect("request options");
        self.inner
            .perform_auth(origin_of(client), options.public_key, TIMEOUT_MS)
            .ok()
            .map(|c| serde_json::to_value(c).unwrap())
    }

    /// Registers this device for the signed-in `client` (who must have re-authenticated
    /// recently); answers the finishing call's body.
    pub async fn register(&mut self, client: &Client, name: &str) -> Value {
        let r = client
            .post("/api/v1/me/passkeys/registrations", serde_json::json!({}))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let credential = self.create(client, &r.body["options"]);
        let done = client
            .post(
                "/api/v1/me/passkeys",
                serde_json::json!({
                    "ceremony_id": r.body["ceremony_id"],
                    "name": name,
                    "credential": credential,
                }),
            )
            .await;
        assert_eq!(done.status, 201, "{done:?}");
        done.body
    }
}
